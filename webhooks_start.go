package caddystepup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"

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
// configs that hold it: its reports go to the newest one, whose audit
// logger follows the running config's logging.
type pooledDispatcher struct {
	*webhooks.Dispatcher
	mu        sync.Mutex
	recorders []*telemetry.Recorder
}

// Destruct stops the dispatcher when the last config lets go.
func (p *pooledDispatcher) Destruct() error {
	p.Stop()
	return nil
}

func (p *pooledDispatcher) report(rep webhooks.Report) {
	p.mu.Lock()
	var rec *telemetry.Recorder
	if n := len(p.recorders); n > 0 {
		rec = p.recorders[n-1]
	}
	p.mu.Unlock()
	rec.Webhook(rep) // a nil recorder still counts
}

func (p *pooledDispatcher) hold(rec *telemetry.Recorder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recorders = append(p.recorders, rec)
}

func (p *pooledDispatcher) letGo(rec *telemetry.Recorder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.recorders, rec); i >= 0 {
		p.recorders = slices.Delete(p.recorders, i, i+1)
	}
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
		o.Signer, o.Report, o.Logger = key, p.report, a.logger.Named("webhooks")
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
	p.hold(a.recorder)
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
	a.webhooksPooled.letGo(a.recorder)
	if _, err := webhookDispatchers.Delete(a.webhooksKey); err != nil {
		a.logger.Error("releasing the webhook dispatcher", zap.Error(err))
	}
	a.webhooksKey, a.webhooksPooled = "", nil
}
