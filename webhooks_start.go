package caddystepup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/telemetry"
	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// webhookDispatchers shares one dispatcher per webhook configuration (and
// signing key) across config reloads: a reload that leaves the webhooks as
// they were (a management call that changes the scopes) keeps the queues
// and the retries waiting for their time. The last config to let go stops
// it, within its drain timeout.
var webhookDispatchers = caddy.NewUsagePool()

// pooledDispatcher is a shared dispatcher and the recorders of the
// configs that hold it (its reports go to the newest one).
type pooledDispatcher struct {
	*webhooks.Dispatcher
	recorders telemetry.Newest
}

// Destruct stops the dispatcher when the last config lets go.
func (p *pooledDispatcher) Destruct() error {
	p.Stop()
	return nil
}

// acquireWebhooks shares the dispatcher of the app's webhook settings,
// signed with key, remembering it for Cleanup.
func (a *App) acquireWebhooks(key *jwks.PSSSigner) (*webhooks.Dispatcher, error) {
	// The pool key is a digest: the settings hold the endpoints' secrets.
	raw, err := json.Marshal(a.Webhooks)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append(raw, key.KeyID()...))
	poolKey := "webhooks|" + hex.EncodeToString(sum[:])
	v, _, err := webhookDispatchers.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		p := &pooledDispatcher{}
		o := a.Webhooks.Options()
		o.Signer, o.Report, o.Logger = key, p.recorders.Webhook, a.logger.Named("webhooks")
		d, err := webhooks.New(o)
		if err != nil {
			return nil, err
		}
		p.Dispatcher = d
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p := v.(*pooledDispatcher)
	p.recorders.Hold(a.recorder)
	a.webhooksKey, a.webhooksPooled = poolKey, p
	p.Start() // once: a dispatcher another config holds runs already
	return p.Dispatcher, nil
}

// releaseWebhooks lets go of the dispatcher Start acquired, if any: the
// last config to let go stops it.
func (a *App) releaseWebhooks() {
	if a.webhooksPooled == nil {
		return
	}
	a.webhooksPooled.recorders.LetGo(a.recorder)
	if _, err := webhookDispatchers.Delete(a.webhooksKey); err != nil {
		a.logger.Error("releasing the webhook dispatcher", zap.Error(err))
	}
	a.webhooksKey, a.webhooksPooled = "", nil
}
