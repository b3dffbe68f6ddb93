package stepup

import (
	"context"
	"errors"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// TestCodeCheckSettles: a code check counts its attempt and, for a wrong
// code, a failure of the account and of the client; the check that passed
// is settled by how its operation ended: a store failure gives the attempt
// back, a refusal keeps everything, a success forgets the failures.
func TestCodeCheckSettles(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	var st otpState
	code, err := h.e.newCode(&st, "flow-1", h.e.now())
	noErr(t, "newCode", err)
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	check := codeCheck{owner: "flow-1", triesKey: "test:tries", guess: guessCounters{account: "test:account", client: "test:client"}}
	count := func(key string) int {
		n, err := h.e.counter(ctx, key)
		noErr(t, key, err)
		return n
	}
	want := func(when string, tries, account, client int) {
		t.Helper()
		if got := [3]int{count("test:tries"), count("test:account"), count("test:client")}; got != [3]int{tries, account, client} {
			t.Fatalf("%s: tries, account and client failures %v, want %v", when, got, [3]int{tries, account, client})
		}
	}
	if _, err := h.e.checkOTP(ctx, check, string(wrong), &st); !errors.Is(err, ErrBadCheckCode) {
		t.Fatalf("a wrong code: %v", err)
	}
	want("after a wrong code", 1, 1, 1)
	if _, err := h.e.checkOTP(ctx, check, code, &(otpState{Digest: st.Digest, Gen: st.Gen + 1, Expires: st.Expires})); !errors.Is(err, ErrBadCheckCode) {
		t.Fatalf("the code of another generation: %v", err)
	}
	want("after another generation's code", 2, 2, 2)
	passed, err := h.e.checkOTP(ctx, check, code, &st)
	noErr(t, "the right code", err)
	want("after the right code", 3, 2, 2)
	h.e.settleOTP(ctx, passed, unavailable(errors.New("store down")))
	want("settled by a store failure", 2, 2, 2)
	h.e.settleOTP(ctx, passed, ErrBadCheckCode)
	want("settled by a refusal", 2, 2, 2)
	passed, err = h.e.checkOTP(ctx, check, code, &st)
	noErr(t, "the right code again", err)
	h.e.settleOTP(ctx, passed, nil)
	want("settled by a success", 3, 0, 0)
	if _, err := h.st.Get(ctx, failWaitKey("test:client")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the client's wait after a success: %v", err)
	}
}
