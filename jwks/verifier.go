package jwks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jose"
)

// Leeway bounds for VerifierOptions.Leeway.
const (
	DefaultLeeway = 30 * time.Second
	MaxLeeway     = 60 * time.Second
)

// Issuer describes one accepted token issuer.
type Issuer struct {
	// Issuer is the exact iss. "" means iss is not checked; only allowed
	// when it is the verifier's single Issuer (single-purpose verifiers
	// such as custom-step verification tokens).
	Issuer string
	// Audiences: aud must contain one of these. Empty: aud not checked.
	Audiences []string
	// Keys verify this issuer's tokens, and only its tokens.
	Keys KeySource
	// Algorithms is the allow-list of header alg values, asymmetric only
	// (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA). Default
	// ["ES256"]. none and HS* are refused by NewVerifier.
	Algorithms []string
	// Types are the accepted typ values, compared case-insensitively with
	// an optional "application/" prefix, e.g. ["at+jwt"]. Empty: typ must
	// be absent or "JWT".
	Types []string
}

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	Issuers []Issuer
	// Leeway applied to exp, nbf and iat. Default 30s, at most 60s.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// CacheSize is the number of verified tokens remembered (until their
	// exp). 0 turns the cache off.
	CacheSize int
	// OnCache is told of every cache lookup (hit or miss), for metrics.
	// Optional; it must be quick.
	OnCache func(hit bool)
}

// Verifier checks tokens against a fixed list of issuers. It is safe for
// concurrent use.
type Verifier struct {
	byIssuer  map[string]*issuerPolicy
	anyIssuer *issuerPolicy // set when the single Issuer has Issuer ""
	leeway    time.Duration
	now       func() time.Time
	cache     *tokenCache
	onCache   func(hit bool)
}

// issuerPolicy is an Issuer with its lists validated and normalised.
type issuerPolicy struct {
	issuer    string
	audiences []string
	keys      KeySource
	algs      []string
	types     []string // normalised; empty means absent or "jwt"
}

// NewVerifier validates opts and returns a Verifier.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if len(opts.Issuers) == 0 {
		return nil, errors.New("jwks: verifier needs at least one issuer")
	}
	v := &Verifier{byIssuer: make(map[string]*issuerPolicy, len(opts.Issuers)), leeway: opts.Leeway, now: opts.Now}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0 || v.leeway > MaxLeeway:
		return nil, fmt.Errorf("jwks: leeway must be between 0 and %s", MaxLeeway)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if opts.CacheSize < 0 {
		return nil, errors.New("jwks: cache size must not be negative")
	}
	if opts.CacheSize > 0 {
		v.cache = newTokenCache(opts.CacheSize)
		v.onCache = opts.OnCache
	}
	for i, is := range opts.Issuers {
		p, err := newIssuerPolicy(is)
		if err != nil {
			return nil, fmt.Errorf("jwks: issuer %d (%q): %w", i, is.Issuer, err)
		}
		if is.Issuer == "" {
			if len(opts.Issuers) != 1 {
				return nil, errors.New(`jwks: an issuer "" (iss not checked) must be the only issuer`)
			}
			v.anyIssuer = p
			continue
		}
		if _, dup := v.byIssuer[is.Issuer]; dup {
			return nil, fmt.Errorf("jwks: issuer %q listed twice", is.Issuer)
		}
		v.byIssuer[is.Issuer] = p
	}
	return v, nil
}

func newIssuerPolicy(is Issuer) (*issuerPolicy, error) {
	if is.Keys == nil {
		return nil, errors.New("no key source")
	}
	p := &issuerPolicy{issuer: is.Issuer, audiences: slices.Clone(is.Audiences), keys: is.Keys}
	p.algs = slices.Clone(is.Algorithms)
	if len(p.algs) == 0 {
		p.algs = []string{"ES256"}
	}
	for _, a := range p.algs {
		if !jose.Supported(a) {
			return nil, fmt.Errorf("algorithm %q not allowed (asymmetric signature algorithms only)", a)
		}
	}
	for _, t := range is.Types {
		if t == "" {
			return nil, errors.New("empty typ in Types")
		}
		p.types = append(p.types, jose.MediaType(t))
	}
	return p, nil
}

// Verify checks raw and returns its claims. Every problem with the token is
// an error wrapping ErrInvalidToken; ErrUnavailable means the issuer's keys
// could not be loaded. The returned Claims may be shared with the cache and
// other callers: do not modify them.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) == 0 {
		return nil, errEmpty
	}
	if len(raw) > MaxTokenBytes {
		return nil, errOversize
	}
	now := v.now()
	if v.cache == nil {
		return v.verify(ctx, raw, now)
	}
	key := TokenHash(raw)
	if c, ok := v.cache.get(&key, now); ok {
		if v.onCache != nil {
			v.onCache(true)
		}
		return c, nil
	}
	if v.onCache != nil {
		v.onCache(false)
	}
	c, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	// An entry never outlives the token's exp (the leeway is not extended
	// to cached entries).
	if now.Before(c.ExpiresAt) {
		v.cache.put(&key, c, c.ExpiresAt)
	}
	return c, nil
}

// Admit puts a token this process has just signed, with a key of one of
// the verifier's issuers, into its cache: every check Verify makes but
// the signature's (the process made it), so that the client presenting it
// costs no signature verification. Never admit a token that came from
// elsewhere. Without a cache it does nothing.
func (v *Verifier) Admit(ctx context.Context, raw string) error {
	if v.cache == nil {
		return nil
	}
	if len(raw) == 0 || len(raw) > MaxTokenBytes {
		return errOversize
	}
	now := v.now()
	c, err := v.check(ctx, raw, now, false)
	if err != nil {
		return err
	}
	if now.Before(c.ExpiresAt) {
		key := TokenHash(raw)
		v.cache.put(&key, c, c.ExpiresAt)
	}
	return nil
}

// verify does the full check. Cheap checks come before the key lookup (which
// may fetch) and the signature (the expensive part).
func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Claims, error) {
	return v.check(ctx, raw, now, true)
}

// check is verify, with or without the signature's check (Admit).
func (v *Verifier) check(ctx context.Context, raw string, now time.Time, signature bool) (*Claims, error) {
	jws, err := jose.SplitCompact(raw)
	if err != nil {
		return nil, formError(err)
	}
	h, err := jose.ParseHeader(jws.Header)
	if err != nil {
		return nil, headerError(err)
	}
	c, err := decodeClaims(jws.Payload)
	if err != nil {
		return nil, err
	}

	// Pick the issuer by the (still unverified) iss, then verify only with
	// its keys: a key of one issuer can never vouch for another's iss.
	p := v.anyIssuer
	if p == nil {
		if p = v.byIssuer[c.Issuer]; p == nil {
			return nil, errIssuer
		}
	}
	if !slices.Contains(p.algs, h.Alg) {
		return nil, errAlg
	}
	if !p.typeAccepted(h) {
		return nil, errTyp
	}
	if err := v.checkTimes(c, now); err != nil {
		return nil, err
	}
	if len(p.audiences) > 0 && !intersects(c.Audience, p.audiences) {
		return nil, errAudience
	}

	key, err := p.keys.LookupKey(ctx, h.Kid)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("jwks: invalid token: no key for kid: %w", ErrInvalidToken)
	}
	if !key.allows(h.Alg) {
		return nil, errKeyAlg
	}
	if !signature {
		return c, nil
	}
	if err := jose.Verify(key.Public, h.Alg, []byte(jws.SigningInput), jws.Signature); err != nil {
		return nil, errSignature
	}
	return c, nil
}

// typeAccepted applies Issuer.Types to the header typ.
func (p *issuerPolicy) typeAccepted(h *jose.Header) bool {
	if len(p.types) == 0 {
		return !h.HasTyp || jose.MediaType(h.Typ) == "jwt"
	}
	if !h.HasTyp {
		return false
	}
	return slices.Contains(p.types, jose.MediaType(h.Typ))
}

// formError and headerError map jose's refusals to this package's
// constant errors (no allocation on the refusal path).
func formError(err error) error {
	if errors.Is(err, jose.ErrBase64) {
		return errBase64
	}
	return errNotCompact
}

func headerError(err error) error {
	switch {
	case errors.Is(err, jose.ErrCrit):
		return errCrit
	case errors.Is(err, jose.ErrNotJWS):
		return errNotJWS
	case errors.Is(err, jose.ErrNested):
		return errNested
	case errors.Is(err, jose.ErrAlg):
		return errAlg
	case errors.Is(err, jose.ErrHeaderMember):
		return errTyp
	}
	return errMalformedHeader
}

// checkTimes applies exp (required), nbf and iat with the leeway.
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return errExpired
	}
	latest := now.Add(v.leeway)
	if !c.NotBefore.IsZero() && c.NotBefore.After(latest) {
		return errNotYetValid
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(latest) {
		return errNotYetValid
	}
	// An authentication that has not happened yet would pass every
	// max_age: such a token is refused like one issued in the future.
	if !c.AuthTime.IsZero() && c.AuthTime.After(latest) {
		return errNotYetValid
	}
	return nil
}

func intersects(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}
