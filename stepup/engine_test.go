package stepup

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestErrorsAreComparedByIdentity: two refusals that share a code for the
// client are still different refusals.
func TestErrorsAreComparedByIdentity(t *testing.T) {
	for _, pair := range [][2]error{
		{ErrResendTooSoon, ErrRateLimited}, {ErrTooManyChallenges, ErrRateLimited}, {ErrNoLoginFlow, ErrBadRequest},
		{ErrNoVerifiedIdentifier, ErrInvalidIdentifier}, {ErrBusy, ErrUnavailable},
	} {
		if errors.Is(pair[0], pair[1]) {
			t.Errorf("errors.Is(%v, %v) is true", pair[0], pair[1])
		}
		if AsError(pair[0]).Code != AsError(pair[1]).Code {
			t.Errorf("%v and %v no longer share a code", pair[0], pair[1])
		}
	}
	if !errors.Is(unavailable(errors.New("down")), ErrUnavailable) {
		t.Error("a store failure is not ErrUnavailable")
	}
}

// TestStepRegistry: a direct scope may only name steps the engine can run,
// and a custom step may not take a built-in one's name.
func TestStepRegistry(t *testing.T) {
	r, err := NewStepRegistry([]string{"kyc_review"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{StepVerifySMS: true, StepVerifyEmail: true, "kyc_review": true, "verify_mail": false, "": false,
		StepVerifyPasskey: false} {
		if r.Has(key) != want {
			t.Errorf("Has(%q) = %v", key, !want)
		}
	}
	withPasskeys, err := NewStepRegistry(nil, true)
	if err != nil || !withPasskeys.Has(StepVerifyPasskey) {
		t.Errorf("with passkeys on, verify_passkey is not a step (%v)", err)
	}
	for _, bad := range [][]string{{StepVerifySMS}, {StepVerifyPasskey}, {"a b"}, {""}} {
		for _, passkeys := range []bool{false, true} {
			if _, err := NewStepRegistry(bad, passkeys); err == nil {
				t.Errorf("custom steps %q accepted (passkeys %v)", bad, passkeys)
			}
		}
	}
	cfgErr := func(opt func(*Config)) error {
		h := newHarness(t, nil)
		cfg := h.e.cfg
		opt(&cfg)
		_, err := New(cfg)
		return err
	}
	err = cfgErr(func(c *Config) {
		c.Scopes = map[string]ScopePolicy{"mail:write": {Direct: &DirectPolicy{GrantMode: GrantSingleUse, GrantedFor: 60 * time.Second,
			Steps: []DirectStep{{Key: "verify_mail", Expiration: 60 * time.Second}}}}}
	})
	if err == nil || !strings.Contains(err.Error(), "verify_mail") {
		t.Errorf("a direct scope with an unknown step: %v", err)
	}
}
