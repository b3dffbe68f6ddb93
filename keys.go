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

// signingKeyStorageKey is where a generated signing key is kept in Caddy's
// storage, so that it survives restarts and is shared by every instance
// that shares the storage.
const signingKeyStorageKey = "stepup/signing_key.pem"

// loadSigningKey reads the key from path, or from Caddy's storage when path
// is empty, generating and storing one on first use.
func loadSigningKey(ctx caddy.Context, path string) (*jwks.Signer, error) {
	if path != "" {
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return jwks.ParseSigner(pemBytes)
	}
	storage := ctx.Storage()
	if storage == nil {
		return nil, errors.New("no storage to keep a generated key in; set signing_key")
	}
	lockCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := storage.Lock(lockCtx, signingKeyStorageKey); err != nil {
		return nil, fmt.Errorf("locking %s in storage: %v", signingKeyStorageKey, err)
	}
	defer func() { _ = storage.Unlock(context.Background(), signingKeyStorageKey) }()

	pemBytes, err := storage.Load(lockCtx, signingKeyStorageKey)
	if err == nil {
		return jwks.ParseSigner(pemBytes)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s from storage: %v", signingKeyStorageKey, err)
	}
	signer, err := jwks.GenerateSigner()
	if err != nil {
		return nil, err
	}
	pemBytes, err = signer.PEM()
	if err != nil {
		return nil, err
	}
	if err := storage.Store(lockCtx, signingKeyStorageKey, pemBytes); err != nil {
		return nil, fmt.Errorf("saving generated key to storage: %v", err)
	}
	ctx.Logger().Info("generated a signing key and saved it in storage",
		zap.String("storage_key", signingKeyStorageKey), zap.String("kid", signer.KeyID()))
	return signer, nil
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
