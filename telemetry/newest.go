package telemetry

import (
	"slices"
	"sync"

	"github.com/caddy-stepup/caddy-stepup/webhooks"
)

// Newest is the recorders of the configs that hold something shared
// across reloads (a webhook dispatcher): its reports go to the newest
// config's recorder, whose audit logger follows the running config's
// logging. The zero value holds none.
type Newest struct {
	mu        sync.Mutex
	recorders []*Recorder
}

// Hold adds the recorder of a config that takes the shared thing.
func (n *Newest) Hold(r *Recorder) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recorders = append(n.recorders, r)
}

// LetGo removes the recorder of a config that lets go.
func (n *Newest) LetGo(r *Recorder) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i := slices.Index(n.recorders, r); i >= 0 {
		n.recorders = slices.Delete(n.recorders, i, i+1)
	}
}

// Recorder is the newest recorder held; nil when none is.
func (n *Newest) Recorder() *Recorder {
	n.mu.Lock()
	defer n.mu.Unlock()
	if k := len(n.recorders); k > 0 {
		return n.recorders[k-1]
	}
	return nil
}

// Webhook reports a delivery's step to the newest recorder (a nil one
// still counts).
func (n *Newest) Webhook(rep webhooks.Report) { n.Recorder().Webhook(rep) }
