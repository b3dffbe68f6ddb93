package signals

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Defaults and bounds of ReceiverOptions.
const (
	DefaultMaxAge   = time.Hour
	MaxMaxAge       = 24 * time.Hour
	DefaultLeeway   = 30 * time.Second
	MaxLeeway       = 60 * time.Second
	DefaultMaxBytes = 64 << 10
	// MediaType is the Content-Type of a pushed SET (RFC 8935 §2).
	MediaType = "application/secevent+jwt"
)

// DefaultAlgorithms are the algorithms a transmitter may sign with when
// its configuration names none.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// Transmitter is one SSF transmitter the receiver accepts SETs from.
type Transmitter struct {
	// Issuer is the transmitter's iss, compared exactly.
	Issuer string
	// Audiences: the SET's aud must contain one of these. Required.
	Audiences []string
	// Keys verify the transmitter's SETs, and only its SETs.
	Keys jwks.KeySource
	// Algorithms the transmitter may sign with. Default DefaultAlgorithms;
	// asymmetric only.
	Algorithms []string
	// Authorization, when set, is the exact Authorization header value the
	// transmitter sends with every push (SSF 1.0 §6.1.1's
	// authorization_header), compared in constant time.
	Authorization string
	// StreamID, when set, is the stream a verification or stream-updated
	// event must name.
	StreamID string
	// SubjectIssuers are other issuers whose subjects, sessions and tokens
	// the transmitter may name in iss_sub and jwt_id subjects (the
	// gateway's own issuer, when the transmitter knows its users). Its own
	// Issuer always counts.
	SubjectIssuers []string
}

// ReceiverOptions configures a Receiver.
type ReceiverOptions struct {
	Transmitters []Transmitter
	// Store keeps the jti markers (each for the SET's acceptance window)
	// and the verification states asked for: shared by every instance.
	Store store.Store
	// MaxAge is how old a SET's iat may be. Default 1h, at most 24h. A
	// SET's jti is remembered for this long (plus Leeway), so a replay is
	// refused for as long as its iat would pass.
	MaxAge time.Duration
	// Leeway is how far in the future an iat may be. Default 30s, at
	// most 60s.
	Leeway time.Duration
	// MaxBytes caps a SET. Default 64 KiB.
	MaxBytes int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// StreamChanged, when set, is told of every stream-updated event that
	// changed its stream's status (previous is "enabled" for a stream
	// never updated), for the log and the audit. Events of a paused or
	// disabled stream are still applied: they are signed and verified as
	// any other, and each one withdraws access, which refusing it would
	// keep.
	StreamChanged func(issuer, previous string, now StreamState)
}

// Receiver verifies pushed SETs. It is safe for concurrent use.
type Receiver struct {
	byIssuer map[string]*Transmitter
	store    store.Store
	maxAge   time.Duration
	leeway   time.Duration
	maxBytes int
	now      func() time.Time
	// streamChanged is ReceiverOptions.StreamChanged.
	streamChanged func(issuer, previous string, now StreamState)
}

// NewReceiver checks opts and returns a Receiver.
func NewReceiver(opts ReceiverOptions) (*Receiver, error) {
	if len(opts.Transmitters) == 0 {
		return nil, errors.New("signals: at least one transmitter is needed")
	}
	if opts.Store == nil {
		return nil, errors.New("signals: a store is needed")
	}
	r := &Receiver{byIssuer: map[string]*Transmitter{}, store: opts.Store, maxAge: opts.MaxAge,
		leeway: opts.Leeway, maxBytes: opts.MaxBytes, now: opts.Now, streamChanged: opts.StreamChanged}
	if r.maxAge == 0 {
		r.maxAge = DefaultMaxAge
	}
	if r.maxAge < 0 || r.maxAge > MaxMaxAge {
		return nil, fmt.Errorf("signals: max_age must be between 0 and %s", MaxMaxAge)
	}
	if r.leeway == 0 {
		r.leeway = DefaultLeeway
	}
	if r.leeway < 0 || r.leeway > MaxLeeway {
		return nil, fmt.Errorf("signals: leeway must be between 0 and %s", MaxLeeway)
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultMaxBytes
	}
	if r.now == nil {
		r.now = time.Now
	}
	for i := range opts.Transmitters {
		t := opts.Transmitters[i]
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("signals: transmitter %q: %w", t.Issuer, err)
		}
		if _, dup := r.byIssuer[t.Issuer]; dup {
			return nil, fmt.Errorf("signals: transmitter %q listed twice", t.Issuer)
		}
		if len(t.Algorithms) == 0 {
			t.Algorithms = DefaultAlgorithms
		}
		r.byIssuer[t.Issuer] = &t
	}
	return r, nil
}

func (t *Transmitter) check() error {
	switch {
	case t.Issuer == "":
		return errors.New("issuer is required")
	case len(t.Audiences) == 0 || slices.Contains(t.Audiences, ""):
		return errors.New("an audience is required")
	case t.Keys == nil:
		return errors.New("no key source")
	}
	for _, alg := range t.Algorithms {
		if !jose.Supported(alg) {
			return fmt.Errorf("algorithm %q not allowed (asymmetric signature algorithms only)", alg)
		}
	}
	return nil
}

// MaxBytes is the largest SET the receiver reads.
func (r *Receiver) MaxBytes() int { return r.maxBytes }

// Delivery is one push (RFC 8935 §2): the request's Content-Type and
// Authorization headers and its body.
type Delivery struct {
	ContentType   string
	Authorization string
	Body          []byte
}

// ErrDuplicate: a SET whose jti was accepted already (by this instance or
// another sharing the store). It changes nothing again; the caller answers
// as it did the first time, so that a transmitter retrying a push whose
// answer it lost does not count it as refused.
var ErrDuplicate = errors.New("signals: SET received already")

// Receive verifies one pushed SET and says what it asks. Refusals are
// *Refusal; ErrDuplicate is a SET accepted before (returned with it, to
// say what it was); ErrUnavailable means keys or store could not be
// reached. An accepted SET's jti is marked
// before Receive returns: a caller that cannot apply the decision calls
// Forget, so that the transmitter's retry is not taken for a replay.
func (r *Receiver) Receive(ctx context.Context, d Delivery) (*Accepted, error) {
	return r.receive(ctx, d, false, "")
}

// receive is Receive for a push, or for a polled SET listed under jti.
func (r *Receiver) receive(ctx context.Context, d Delivery, polled bool, listedAs string) (*Accepted, error) {
	if len(d.Body) > r.maxBytes {
		return nil, ErrBodyTooLarge
	}
	if !polled && !isSETMediaType(d.ContentType) {
		return nil, ErrContentType
	}
	set, t, err := r.verify(ctx, d, polled)
	if err != nil {
		return nil, err
	}
	if polled && set.jti != listedAs {
		return nil, ErrJTI
	}
	decision, err := decide(set.event, set.payload, set.subject, t)
	if err != nil {
		return nil, err
	}
	a := &Accepted{Issuer: t.Issuer, JTI: set.jti, Txn: set.txn, Decision: decision}
	if err := r.mark(ctx, a); err != nil {
		if errors.Is(err, ErrDuplicate) {
			return a, err
		}
		return nil, err
	}
	if decision.Action == ActionVerification && decision.State != "" {
		if err := r.takeState(ctx, t.Issuer, decision.State); err != nil {
			r.Forget(ctx, a)
			return nil, err
		}
	}
	return a, nil
}

// Accepted is a verified SET and its decision.
type Accepted struct {
	Issuer   string
	JTI      string
	Txn      string
	Decision *Decision
}

// isSETMediaType accepts application/secevent+jwt (case-insensitive, as
// media types are), with at most a charset parameter of UTF-8 or ASCII.
func isSETMediaType(value string) bool {
	if value == "" {
		return false
	}
	mt, params, err := mime.ParseMediaType(value)
	if err != nil || mt != MediaType {
		return false
	}
	for name, v := range params {
		if name != "charset" || (!strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "us-ascii")) {
			return false
		}
	}
	return true
}

// authorized compares the push's Authorization header with the one agreed
// for the transmitter's stream.
func (t *Transmitter) authorized(header string) bool {
	if t.Authorization == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(header), []byte(t.Authorization)) == 1
}
