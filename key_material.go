package caddystepup

import (
	"context"
	"fmt"
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
	return jwks.LoadKey(ctx, keyStorage(ctx), ctx.Logger(), path, signingKeyStorageKey, jwks.ParseSigner, jwks.GenerateSigner)
}

// loadWebhookKey reads the RSA key of the session webhooks the same way.
func loadWebhookKey(ctx caddy.Context, path string) (*jwks.PSSSigner, error) {
	return jwks.LoadKey(ctx, keyStorage(ctx), ctx.Logger(), path, webhookKeyStorageKey, jwks.ParsePSSSigner, jwks.GeneratePSSSigner)
}

// keyStorage is Caddy's storage, nil (no typed nil) when there is none.
func keyStorage(ctx caddy.Context) jwks.KeyStorage {
	if s := ctx.Storage(); s != nil {
		return s
	}
	return nil
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
