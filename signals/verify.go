package signals

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/jwks"
)

// settype is the typ of a SET (RFC 8417 §2.3), compared as jose.MediaType
// does: case-insensitively, with or without "application/" (RFC 7515
// §4.1.9 makes both spellings one media type).
const settype = "secevent+jwt"

// maxJTI bounds a SET's jti.
const maxJTI = 256

// set is a verified SET's members the receiver reads.
type set struct {
	jti     string
	txn     string
	event   string
	payload strictjson.Value
	subject *Subject
}

// verify checks a SET: form, header, claims, issuer, Authorization (of a
// push; a poll is the receiver's own request), audience, times, signature,
// events and subject. Cheap checks come
// before the key lookup (which may fetch) and the signature.
func (r *Receiver) verify(ctx context.Context, d Delivery, polled bool) (*set, *Transmitter, error) {
	jws, err := jose.SplitCompact(string(d.Body))
	if err != nil {
		return nil, nil, ErrNotCompact
	}
	h, err := jose.ParseHeader(jws.Header)
	if err != nil {
		return nil, nil, ErrHeader
	}
	if !h.HasTyp || jose.MediaType(h.Typ) != settype {
		return nil, nil, ErrType
	}
	m, err := strictjson.ParseObject(jws.Payload)
	if err != nil {
		return nil, nil, ErrClaims
	}
	iss, present, err := jose.String(m, "iss")
	if err != nil || !present {
		return nil, nil, ErrClaims
	}
	t := r.byIssuer[iss]
	if t == nil {
		return nil, nil, ErrIssuer
	}
	if !polled && !t.authorized(d.Authorization) {
		return nil, nil, ErrAuthorization
	}
	if !slices.Contains(t.Algorithms, h.Alg) {
		return nil, nil, ErrAlgorithm
	}
	s, err := r.readClaims(m, t)
	if err != nil {
		return nil, nil, err
	}
	key, err := t.Keys.LookupKey(ctx, h.Kid)
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) {
			return nil, nil, ErrUnavailable
		}
		return nil, nil, ErrKey
	}
	if key.Algorithm != "" && key.Algorithm != h.Alg {
		return nil, nil, ErrKey
	}
	if err := jose.Verify(key.Public, h.Alg, []byte(jws.SigningInput), jws.Signature); err != nil {
		return nil, nil, ErrKey
	}
	return s, t, nil
}

// readClaims checks the SET's claims (RFC 8417 §2.2 as SSF 1.0 §4.1
// profiles it): jti, iat and events required; aud naming this receiver;
// no sub and no exp; sub_id a subject; txn and toe of their types.
func (r *Receiver) readClaims(m strictjson.Members, t *Transmitter) (*set, error) {
	if _, ok := m["sub"]; ok {
		return nil, ErrForbiddenClaim
	}
	if _, ok := m["exp"]; ok {
		return nil, ErrForbiddenClaim
	}
	aud, present, err := jose.Strings(m, "aud")
	if err != nil {
		return nil, ErrClaims
	}
	if !present || !intersects(aud, t.Audiences) {
		return nil, ErrAudience
	}
	iat, present, err := jose.NumericDate(m, "iat")
	if err != nil || !present {
		return nil, ErrIssuedAt
	}
	now := r.now()
	if iat.After(now.Add(r.leeway)) || iat.Before(now.Add(-r.maxAge)) {
		return nil, ErrIssuedAt
	}
	s := &set{}
	var present2 bool
	if s.jti, present2, err = jose.String(m, "jti"); err != nil || !present2 || s.jti == "" || len(s.jti) > maxJTI {
		return nil, ErrJTI
	}
	if s.txn, _, err = jose.String(m, "txn"); err != nil {
		return nil, ErrClaims
	}
	if _, _, err = jose.NumericDate(m, "toe"); err != nil {
		return nil, ErrClaims
	}
	if s.event, s.payload, err = oneEvent(m); err != nil {
		return nil, err
	}
	v, ok := m["sub_id"]
	if !ok {
		return nil, ErrSubject
	}
	if s.subject, err = parseSubject(v, false); err != nil {
		return nil, err
	}
	return s, nil
}

// oneEvent reads the events claim: an object of exactly one event type
// URI whose value is an object. SSF 1.0 §4.2.1 allows two members only
// when they are alternative URIs of the same event, which a receiver
// cannot tell from two different events: a SET carrying two is refused.
func oneEvent(m strictjson.Members) (string, strictjson.Value, error) {
	v, ok := m["events"]
	if !ok || v.Kind != strictjson.Object {
		return "", strictjson.Value{}, ErrEvents
	}
	events, err := strictjson.ParseObject(v.Raw)
	if err != nil || len(events) != 1 {
		return "", strictjson.Value{}, ErrEvents
	}
	for name, payload := range events {
		if name == "" || payload.Kind != strictjson.Object {
			return "", strictjson.Value{}, ErrEvents
		}
		return name, payload, nil
	}
	return "", strictjson.Value{}, ErrEvents
}

func intersects(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// markerTTL is how long a jti is remembered: as long as its iat can pass
// (MaxAge back, Leeway ahead), and a minute more for clocks that differ.
func (r *Receiver) markerTTL() time.Duration { return r.maxAge + r.leeway + time.Minute }
