package caddystepup

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/sessionapi"
	"github.com/caddy-stepup/caddy-stepup/stepup"
	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// appRuntime is what the app acquires when it starts, and what handlers use
// at request time.
type appRuntime struct {
	signer *jwks.Signer
	// webhookKey signs the session webhooks and, with hook_algorithm
	// PS256, the delegation hook; nil when neither is used.
	webhookKey *jwks.PSSSigner
	// webhooks delivers the engine's user events; nil without webhooks.
	webhooks *webhooks.Dispatcher
	// tokens verifies access tokens: the gateway's own and those of the
	// trusted issuers (nil when the app trusts none).
	tokens *jwks.Verifier
	// store is the shared store, measured (telemetry.MeasureStore): the
	// engine and the handlers' DPoP replay markers use this one.
	store store.Store
	// now is the clock every expiry is decided by: Redis's when the store
	// is Redis (so that instances with skewed clocks agree with each other
	// and with the store's TTLs), the local clock otherwise.
	now func() time.Time
	// engine runs logins, sessions and step-ups; nil without issuer.
	engine *stepup.Engine
	nonces *dpop.Nonces
	// resourceProofs verifies DPoP proofs at stepup handlers.
	resourceProofs *dpop.Verifier
	sessionAPI     *sessionapi.API
	// revocations is the revocation list of the store, checked by the
	// stepup handlers; revocations recorded through it (by the engine, the
	// admin API, signals) are counted and audited.
	revocations revoker
}

// Start acquires what the validated config needs: the signing key (from
// the file, or generated once into Caddy's storage), the store (pinged, its
// eviction policy checked), the remote key sets (fetched in the
// background). A failure fails the config load.
func (a *App) Start() error {
	rt, err := a.acquire()
	if err != nil {
		return err
	}
	a.rt.Store(rt)
	a.started.fire()
	return nil
}

func (a *App) acquire() (*appRuntime, error) {
	signer, err := loadSigningKey(a.ctx, a.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("loading signing_key: %v", err)
	}
	rt := &appRuntime{
		signer: signer,
		nonces: dpop.NewNonces(signer.DeriveSecret("dpop-nonce"), 0),
		// Handlers keep DPoP replay markers in the store even when the
		// gateway mints no tokens of its own.
		resourceProofs: &dpop.Verifier{Algorithms: a.AcceptedDPoPAlgorithms()},
	}
	shared, ledger, err := a.openStore(a.ctx)
	if err != nil {
		return nil, err
	}
	rt.store = telemetry.MeasureStore(shared, a.recorder.StoreFailed)
	rt.now = store.ClockOf(shared)
	list, err := a.acquireRevocations(ledger, rt.now)
	if err != nil {
		return nil, err
	}
	rt.revocations = revoker{list: list, recorder: a.recorder}
	rt.resourceProofs.Now = rt.now
	if rt.tokens, err = a.accessTokenVerifier(signer, rt.now); err != nil {
		return nil, err
	}
	if a.Issuer == "" {
		return rt, nil
	}
	if a.Webhooks != nil || a.HookAlgorithm == appconfig.HookPS256 {
		if rt.webhookKey, err = loadWebhookKey(a.ctx, a.WebhookSigningKey); err != nil {
			return nil, fmt.Errorf("loading webhook_signing_key: %v", err)
		}
	}
	if a.Webhooks != nil {
		if rt.webhooks, err = a.acquireWebhooks(rt.webhookKey); err != nil {
			return nil, fmt.Errorf("webhooks: %v", err)
		}
	}
	// The JWKS publishes the webhook key too: receivers of webhooks and
	// hooks find it by the kid a request names. It verifies no token:
	// the gateway's token verifiers hold the signing key alone.
	published, err := jwks.PublicJWKS(signer, rt.webhookKey)
	if err != nil {
		return nil, err
	}
	if rt.engine, err = a.newEngine(rt); err != nil {
		return nil, err
	}
	rt.sessionAPI = sessionapi.New(sessionapi.Config{
		Engine: rt.engine, Tokens: rt.tokens, Issuer: a.Issuer, Nonces: rt.nonces,
		ExternalOrigin: a.ExternalOrigin(), CORS: a.CORS, JWKS: published,
		Logger: a.logger.Named("session"), ClientIP: clientIP, OriginalPath: originalPath, Now: rt.now,
	})
	return rt, nil
}

// runtime is what Start acquired, nil before: handlers fail closed then.
func (a *App) runtime() *appRuntime {
	if a.rt == nil {
		return nil
	}
	return a.rt.Load()
}

// startWait bounds how long a request that arrives before Start waits
// for it.
const startWait = 10 * time.Second

// awaitRuntime is runtime, waiting for Start when a request arrives
// before it. Caddy starts a new config's apps in no set order, so at a
// reload the new HTTP servers may take requests while this app is still
// acquiring its store and keys: those requests wait rather than fail. It
// gives up when the request ends, after startWait, or when the config is
// cleaned up without having started (nil: the handlers answer 503).
func (a *App) awaitRuntime(ctx context.Context) *appRuntime {
	if rt := a.runtime(); rt != nil || a.started == nil {
		return rt
	}
	timer := time.NewTimer(startWait)
	defer timer.Stop()
	select {
	case <-a.started.done:
	case <-ctx.Done():
	case <-timer.C:
	}
	return a.runtime()
}

// startSignal is closed once: when Start has set the runtime, or when
// Cleanup runs without it ever being set.
type startSignal struct {
	once sync.Once
	done chan struct{}
}

func newStartSignal() *startSignal { return &startSignal{done: make(chan struct{})} }

func (s *startSignal) fire() {
	if s != nil {
		s.once.Do(func() { close(s.done) })
	}
}

// accessTokenVerifier accepts the gateway's own access tokens and those of
// every trusted issuer, each checked only against its own keys.
func (a *App) accessTokenVerifier(signer *jwks.Signer, now func() time.Time) (*jwks.Verifier, error) {
	var issuers []jwks.Issuer
	if a.Issuer != "" {
		issuers = append(issuers, jwks.Issuer{Issuer: a.Issuer, Audiences: []string{a.settings.Audience}, Keys: signer.KeySource(),
			Algorithms: []string{"ES256"}, Types: []string{accessTokenType}})
	}
	for _, t := range a.Trust {
		remote, err := a.acquireRemote(t.JWKSURL, time.Duration(t.RefreshInterval))
		if err != nil {
			return nil, fmt.Errorf("trust %s: %v", t.Issuer, err)
		}
		issuers = append(issuers, jwks.Issuer{Issuer: t.Issuer, Audiences: t.Audience, Keys: remote,
			Algorithms: t.Algorithms, Types: append([]string{accessTokenType}, t.Types...)})
	}
	if len(issuers) == 0 {
		return nil, nil // handlers that need tokens refused to load (Validate)
	}
	v, err := jwks.NewVerifier(jwks.VerifierOptions{Issuers: issuers, Leeway: a.settings.Leeway, CacheSize: a.VerifiedTokenCacheSize(),
		OnCache: telemetry.CacheLookup, Now: now})
	if err != nil {
		return nil, fmt.Errorf("setting up token verification: %v", err)
	}
	return v, nil
}

// acquireRemote shares the key set at jwksURL, remembering it for Cleanup.
func (a *App) acquireRemote(jwksURL string, refresh time.Duration) (*jwks.Remote, error) {
	remote, key, err := acquireRemoteKeys(jwksURL, refresh, a.logger)
	if err != nil {
		return nil, err
	}
	a.remotes = append(a.remotes, key)
	return remote, nil
}

// Stop is part of caddy.App; what Start acquired is released by Cleanup,
// which also runs when a config fails halfway.
func (a *App) Stop() error { return nil }

// Cleanup releases the shared key sets, webhook dispatcher and store this
// app acquired.
func (a *App) Cleanup() error {
	a.started.fire() // wake requests still waiting for a Start that failed
	for _, key := range a.remotes {
		releaseRemoteKeys(key, a.logger)
	}
	a.remotes = nil
	a.releaseWebhooks()
	a.releaseRevocations()
	a.releaseStore()
	return nil
}
