// Package stepup is the engine of caddy-stepup: OTP login, sessions with
// DPoP-bound rotating refresh tokens, step-up challenges and grants. It is
// plain Go: the Caddy module turns HTTP requests into calls on Engine and
// its results (or *Error values) into responses.
package stepup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/caddy-stepup/caddy-stepup/stepup/password"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Signer signs the tokens the gateway mints (jwks.Signer satisfies it).
type Signer interface {
	Sign(typ string, claims any) (string, error)
	DeriveSecret(label string) []byte
}

// Admitter takes tokens this process has just signed into a verifier's
// cache (jwks.Verifier.Admit).
type Admitter interface {
	Admit(ctx context.Context, raw string) error
}

// admit tells a verifier that can admit tokens of one this engine just
// signed. A token it refuses is simply verified in full when presented.
func admit(v any, token string) {
	if a, ok := v.(Admitter); ok && a != nil {
		_ = a.Admit(context.Background(), token)
	}
}

// Engine runs logins, sessions and step-ups over a Store.
type Engine struct {
	cfg        Config
	codeKey    []byte // HMAC key of stored OTP digests
	refreshKey []byte // HMAC key of refresh-token secrets
	deviceKey  []byte // HMAC key of device cookies
	steps      *StepRegistry
	passwords  *password.Hasher // nil: password login off
	log        *zap.Logger
	// trustedIssuers are the OpenID providers trusted with the addresses
	// they say are verified (OAuthLogin.TrustVerifiedIdentifiers).
	trustedIssuers map[string]bool
	// ownACRs are the acr values the gateway awards itself: a provider's
	// ID token may not claim one unless ACRMap maps it.
	ownACRs map[string]bool
	// rp is the WebAuthn relying party (nil: passkeys off).
	rp *webauthn.WebAuthn
	// spent are the single-use grants this instance found spent.
	spent *spentGrants
	// signed are the challenge tokens this instance signed.
	signed *signedChallenges
}

// New checks cfg (its parts, and the rules of Validate), applies the
// defaults and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Issuer == "" || cfg.Signer == nil || cfg.Store == nil {
		return nil, errors.New("stepup: issuer, signer and store are required")
	}
	if len(cfg.Scopes) > 0 && (cfg.ChallengeVerifier == nil || cfg.HookSigner == nil) {
		return nil, errors.New("stepup: scopes need a challenge verifier and a hook signer")
	}
	for name, p := range cfg.OAuth {
		if p.Provider == nil || p.Issuer == "" {
			return nil, fmt.Errorf("stepup: oauth %s: a provider and its issuer are required", name)
		}
	}
	cfg = cfg.WithDefaults()
	cfg.setParts()
	steps, err := cfg.check()
	if err != nil {
		return nil, fmt.Errorf("stepup: %w", err)
	}
	e := &Engine{cfg: cfg, steps: steps, log: cfg.Logger, spent: newSpentGrants(spentGrantMemory),
		signed:     newSignedChallenges(cfg.ChallengeMemory),
		codeKey:    cfg.Signer.DeriveSecret("otp-digest"),
		refreshKey: cfg.Signer.DeriveSecret("refresh-token"),
		deviceKey:  cfg.Signer.DeriveSecret("device-cookie")}
	if cfg.Passwords != nil {
		if e.passwords, err = password.NewHasher(cfg.Passwords.Params, cfg.Passwords.ConcurrentHashes); err != nil {
			return nil, fmt.Errorf("stepup: %w", err)
		}
	}
	e.trustedIssuers = map[string]bool{}
	for _, p := range cfg.OAuth {
		if p.TrustVerifiedIdentifiers {
			e.trustedIssuers[p.Issuer] = true
		}
	}
	e.ownACRs = cfg.ownACRs()
	if cfg.Passkeys != nil {
		if e.rp, err = cfg.Passkeys.relyingParty(); err != nil {
			return nil, fmt.Errorf("stepup: passkeys: %w", err)
		}
	}
	return e, nil
}

func (e *Engine) now() time.Time { return e.cfg.Now() }

// remaining is the TTL of a record that ends at end (Unix s): the time
// left on the clock, never more than the record's configured lifetime
// (a clock that was ahead when the end was set, or is behind now, must
// not make a key outlive what its configuration allows).
func remaining(end int64, now time.Time, lifetime time.Duration) time.Duration {
	return min(time.Unix(end, 0).Sub(now), lifetime)
}

// recordVersion is written into every stored JSON value, so that instances
// of different versions sharing a store can tell formats apart.
const recordVersion = 1

// load reads a JSON record; ErrNotFound stays distinguishable, every other
// store failure becomes unavailable.
func (e *Engine) load(ctx context.Context, key string, v any) ([]byte, error) {
	raw, err := e.cfg.Store.Get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, unavailable(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, unavailable(fmt.Errorf("decoding %s: %w", keyKind(key), err))
	}
	return raw, nil
}

// decode reads the JSON record a GET (or Take) of a batch returned, as
// load does.
func (e *Engine) decode(op *store.Op, v any) error {
	if op.Err != nil {
		if errors.Is(op.Err, store.ErrNotFound) {
			return op.Err
		}
		return unavailable(op.Err)
	}
	if err := json.Unmarshal(op.Result, v); err != nil {
		return unavailable(fmt.Errorf("decoding %s: %w", keyKind(op.Key), err))
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("stepup: encoding a record: " + err.Error())
	}
	return b
}

// storeErr maps a store error on a write to the engine's errors.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// keyKind names a key's family for error messages without its identifiers.
func keyKind(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i]
		}
	}
	return key
}
