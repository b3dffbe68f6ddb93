package telemetry

import (
	"testing"

	"go.uber.org/zap"
)

// TestNewestFollowsTheNewestConfig: the recorder of the config that took
// the shared thing last answers, and the one before it once that config
// lets go.
func TestNewestFollowsTheNewestConfig(t *testing.T) {
	var n Newest
	if n.Recorder() != nil {
		t.Fatal("a recorder before any was held")
	}
	old, newer := NewRecorder(zap.NewNop()), NewRecorder(zap.NewNop())
	n.Hold(old)
	n.Hold(newer)
	if n.Recorder() != newer {
		t.Fatal("not the newest")
	}
	n.LetGo(newer)
	n.LetGo(newer) // twice: nothing more goes
	if n.Recorder() != old {
		t.Fatal("not the one before")
	}
	n.LetGo(old)
	if n.Recorder() != nil {
		t.Fatal("a recorder after every config let go")
	}
}
