package caddystepup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
)

// Where generated keys are kept in Caddy's storage, so that they survive
// restarts and are shared by every instance that shares the storage.
const (
	signingKeyStorageKey = "stepup/signing_key.pem"
	webhookKeyStorageKey = "stepup/webhook_signing_key.pem"
)

// loadSigningKey reads the ES256 key from path, or from Caddy's storage
// when path is empty, generating and storing one on first use.
func loadSigningKey(ctx caddy.Context, path string) (*jwks.Signer, error) {
	return loadKey(ctx, path, signingKeyStorageKey, jwks.ParseSigner, jwks.GenerateSigner)
}

// loadWebhookKey reads the RSA key of the session webhooks the same way.
func loadWebhookKey(ctx caddy.Context, path string) (*jwks.PSSSigner, error) {
	return loadKey(ctx, path, webhookKeyStorageKey, jwks.ParsePSSSigner, jwks.GeneratePSSSigner)
}

// storedKey is a private key that can be written to storage.
type storedKey interface {
	PEM() ([]byte, error)
	KeyID() string
}

// loadKey reads a key from path, or from Caddy's storage at storageKey
// when path is empty, generating and storing one on first use (under the
// storage's lock, so that instances starting together agree on one).
func loadKey[K storedKey](ctx caddy.Context, path, storageKey string, parse func([]byte) (K, error), generate func() (K, error)) (K, error) {
	var none K
	if path != "" {
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return none, err
		}
		return parse(pemBytes)
	}
	storage := ctx.Storage()
	if storage == nil {
		return none, errors.New("no storage to keep a generated key in; set the key's file")
	}
	lockCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := storage.Lock(lockCtx, storageKey); err != nil {
		return none, fmt.Errorf("locking %s in storage: %v", storageKey, err)
	}
	defer func() { _ = storage.Unlock(context.Background(), storageKey) }()

	pemBytes, err := storage.Load(lockCtx, storageKey)
	if err == nil {
		return parse(pemBytes)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return none, fmt.Errorf("reading %s from storage: %v", storageKey, err)
	}
	key, err := generate()
	if err != nil {
		return none, err
	}
	pemBytes, err = key.PEM()
	if err != nil {
		return none, err
	}
	if err := storage.Store(lockCtx, storageKey, pemBytes); err != nil {
		return none, fmt.Errorf("saving generated key to storage: %v", err)
	}
	ctx.Logger().Info("generated a key and saved it in storage",
		zap.String("storage_key", storageKey), zap.String("kid", key.KeyID()))
	return key, nil
}

// remoteKeySets shares one fetched JWKS per URL and refresh setting across
// config reloads: a reload does not refetch, and every config that uses the
// URL refreshes it once.
var remoteKeySets = caddy.NewUsagePool()

type pooledRemote struct {
	*jwks.Remote
	cancel context.CancelFunc
}

// Destruct stops the background refresh when the last config lets go.
func (p pooledRemote) Destruct() error {
	p.cancel()
	p.Close()
	return nil
}

// acquireRemoteKeys shares the key set at jwksURL; release it with
// releaseRemoteKeys and the returned pool key.
func acquireRemoteKeys(jwksURL string, refresh time.Duration, logger *zap.Logger) (*jwks.Remote, string, error) {
	key := fmt.Sprintf("%s|%s", jwksURL, refresh)
	v, _, err := remoteKeySets.LoadOrNew(key, func() (caddy.Destructor, error) {
		remote := jwks.NewRemote(jwks.RemoteOptions{
			URL:             jwksURL,
			RefreshInterval: refresh,
			Logger:          logger.With(zap.String("jwks_url", jwksURL)),
			OnFetch:         telemetry.JWKSFetch,
		})
		ctx, cancel := context.WithCancel(context.Background())
		remote.Start(ctx)
		return pooledRemote{Remote: remote, cancel: cancel}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledRemote).Remote, key, nil
}

func releaseRemoteKeys(key string, logger *zap.Logger) {
	if _, err := remoteKeySets.Delete(key); err != nil {
		logger.Error("releasing remote key set", zap.Error(err))
	}
}
