package signals

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jose"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

func TestReceiveAcceptsAValidSET(t *testing.T) {
	ctx := context.Background()
	for _, key := range []*testKey{newECKey(t, "ec"), newRSAKey(t, "rsa")} {
		r := newTestReceiver(t, store.NewMemory(), keySource(t, key))
		a, err := r.Receive(ctx, push(key.sign(claims(EventSessionRevoked, map[string]any{"event_timestamp": 1600975810},
			map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "user-1"}))))
		if err != nil {
			t.Fatalf("%s: %v", key.alg(), err)
		}
		d := a.Decision
		if d.Action != ActionRevokeAccess || d.Name != "caep.session-revoked" || len(d.Targets.Users) != 1 ||
			d.Targets.Users[0] != (UserRef{Issuer: testIssuer, Subject: "user-1"}) {
			t.Fatalf("%s: %+v", key.alg(), d)
		}
	}
}

// TestReceiveRefusesEveryBypass sends SETs that differ from a valid one in
// one way each; every one is refused with its RFC 8935 code, and none
// leaves a jti marker behind.
func TestReceiveRefusesEveryBypass(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k1")
	other := newECKey(t, "k1") // same kid, another key: a forger's
	rsaKey := newRSAKey(t, "r1")
	st := newKeysStore()
	r := newTestReceiver(t, st, keySource(t, key, rsaKey))
	valid := func() map[string]any {
		return claims(EventAccountDisabled, map[string]any{}, emailSubject("a@example.com"))
	}
	with := func(edit func(map[string]any)) string {
		c := valid()
		edit(c)
		return key.sign(c)
	}
	header := func(h string) string {
		payload, _ := json.Marshal(valid())
		return key.signRaw(h, string(payload))
	}
	payloadRaw := func(p string) string { return key.signRaw(`{"alg":"ES256","kid":"k1","typ":"secevent+jwt"}`, p) }
	validJSON, _ := json.Marshal(valid())
	hsInput := jose.B64.EncodeToString([]byte(`{"alg":"HS256","kid":"k1","typ":"secevent+jwt"}`)) + "." + jose.B64.EncodeToString(validJSON)
	mac := hmac.New(sha256.New, []byte(`{"kty":"EC"}`))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + jose.B64.EncodeToString(mac.Sum(nil))
	noneInput := jose.B64.EncodeToString([]byte(`{"alg":"none","typ":"secevent+jwt"}`)) + "." + jose.B64.EncodeToString(validJSON)
	now := time.Now().Unix()

	cases := map[string]struct {
		delivery Delivery
		want     *Refusal
	}{
		"forged signature (another key, same kid)": {push(other.sign(valid())), ErrKey},
		"signature of another SET":                 {push(strings.Join(append(strings.Split(key.sign(valid()), ".")[:2], strings.Split(key.sign(valid()), ".")[2]), ".")), ErrKey},
		"unknown kid":                              {push(key.signRaw(`{"alg":"ES256","kid":"nope","typ":"secevent+jwt"}`, string(validJSON))), ErrKey},
		"alg none, no signature":                   {push(noneInput + "."), ErrNotCompact},
		"alg none, a signature":                    {push(noneInput + ".AAAA"), ErrAlgorithm},
		"HS256 with the public key":                {push(hs256), ErrAlgorithm},
		"RS256 header on an EC signature":          {push(header(`{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}`)), ErrKey},
		"ES384 not on the list":                    {push(header(`{"alg":"ES384","kid":"k1","typ":"secevent+jwt"}`)), ErrAlgorithm},
		"typ absent":                               {push(header(`{"alg":"ES256","kid":"k1"}`)), ErrType},
		"typ JWT":                                  {push(header(`{"alg":"ES256","kid":"k1","typ":"JWT"}`)), ErrType},
		"typ at+jwt":                               {push(header(`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`)), ErrType},
		"typ with a parameter":                     {push(header(`{"alg":"ES256","kid":"k1","typ":"secevent+jwt;v=1"}`)), ErrType},
		"typ of another prefix":                    {push(header(`{"alg":"ES256","kid":"k1","typ":"text/secevent+jwt"}`)), ErrType},
		"typ null":                                 {push(header(`{"alg":"ES256","kid":"k1","typ":null}`)), ErrHeader},
		"crit":                                     {push(header(`{"alg":"ES256","kid":"k1","typ":"secevent+jwt","crit":["x"],"x":1}`)), ErrHeader},
		"duplicate alg in the header":              {push(header(`{"alg":"ES256","alg":"none","kid":"k1","typ":"secevent+jwt"}`)), ErrHeader},
		"duplicate typ, case-folded":               {push(header(`{"alg":"ES256","kid":"k1","typ":"secevent+jwt","TYP":"JWT"}`)), ErrHeader},
		"JWE":                                      {push("a.b.c.d.e"), ErrNotCompact},
		"JSON serialisation":                       {push(`{"payload":"x","signatures":[]}`), ErrNotCompact},
		"padding in base64":                        {push(key.sign(valid()) + "="), ErrNotCompact},
		"wrong iss":                                {push(with(func(c map[string]any) { c["iss"] = "https://evil.example/" })), ErrIssuer},
		"iss with a trailing slash less":           {push(with(func(c map[string]any) { c["iss"] = strings.TrimSuffix(testIssuer, "/") })), ErrIssuer},
		"iss absent":                               {push(with(func(c map[string]any) { delete(c, "iss") })), ErrClaims},
		"iss a number":                             {push(with(func(c map[string]any) { c["iss"] = 5 })), ErrClaims},
		"wrong aud":                                {push(with(func(c map[string]any) { c["aud"] = "https://other.example/ssf" })), ErrAudience},
		"aud absent":                               {push(with(func(c map[string]any) { delete(c, "aud") })), ErrAudience},
		"aud of another case":                      {push(with(func(c map[string]any) { c["aud"] = strings.ToUpper(testAudience) })), ErrAudience},
		"aud an array without ours":                {push(with(func(c map[string]any) { c["aud"] = []string{"x", "y"} })), ErrAudience},
		"aud an object":                            {push(with(func(c map[string]any) { c["aud"] = map[string]any{"a": testAudience} })), ErrClaims},
		"iat an hour and a minute old":             {push(with(func(c map[string]any) { c["iat"] = now - 3660 })), ErrIssuedAt},
		"iat two minutes ahead":                    {push(with(func(c map[string]any) { c["iat"] = now + 120 })), ErrIssuedAt},
		"iat absent":                               {push(with(func(c map[string]any) { delete(c, "iat") })), ErrIssuedAt},
		"iat a string":                             {push(with(func(c map[string]any) { c["iat"] = fmt.Sprint(now) })), ErrIssuedAt},
		"iat negative":                             {push(with(func(c map[string]any) { c["iat"] = -1 })), ErrIssuedAt},
		"sub present (SSF forbids it)":             {push(with(func(c map[string]any) { c["sub"] = "user-1" })), ErrForbiddenClaim},
		"exp present (SSF forbids it)":             {push(with(func(c map[string]any) { c["exp"] = now + 600 })), ErrForbiddenClaim},
		"jti absent":                               {push(with(func(c map[string]any) { delete(c, "jti") })), ErrJTI},
		"jti empty":                                {push(with(func(c map[string]any) { c["jti"] = "" })), ErrJTI},
		"jti too long":                             {push(with(func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) })), ErrJTI},
		"jti a number":                             {push(with(func(c map[string]any) { c["jti"] = 12 })), ErrJTI},
		"txn a number":                             {push(with(func(c map[string]any) { c["txn"] = 12 })), ErrClaims},
		"two events": {push(with(func(c map[string]any) {
			c["events"] = map[string]any{EventAccountDisabled: map[string]any{}, EventAccountPurged: map[string]any{}}
		})), ErrEvents},
		"no event":                     {push(with(func(c map[string]any) { c["events"] = map[string]any{} })), ErrEvents},
		"events absent":                {push(with(func(c map[string]any) { delete(c, "events") })), ErrEvents},
		"events an array":              {push(with(func(c map[string]any) { c["events"] = []any{EventAccountDisabled} })), ErrEvents},
		"event payload a string":       {push(with(func(c map[string]any) { c["events"] = map[string]any{EventAccountDisabled: "x"} })), ErrEvents},
		"event payload null":           {push(with(func(c map[string]any) { c["events"] = map[string]any{EventAccountDisabled: nil} })), ErrEvents},
		"sub_id absent":                {push(with(func(c map[string]any) { delete(c, "sub_id") })), ErrSubject},
		"sub_id a string":              {push(with(func(c map[string]any) { c["sub_id"] = "a@example.com" })), ErrSubject},
		"email subject without email":  {push(with(func(c map[string]any) { c["sub_id"] = map[string]any{"format": "email"} })), ErrSubject},
		"iss_sub subject without sub":  {push(with(func(c map[string]any) { c["sub_id"] = map[string]any{"format": "iss_sub", "iss": testIssuer} })), ErrSubject},
		"complex subject with nothing": {push(with(func(c map[string]any) { c["sub_id"] = map[string]any{"format": "complex"} })), ErrSubject},
		"complex inside complex": {push(with(func(c map[string]any) {
			c["sub_id"] = map[string]any{"format": "complex", "user": map[string]any{"format": "complex", "user": emailSubject("a@b")}}
		})), ErrSubject},
		"duplicate iss":                 {push(payloadRaw(strings.Replace(string(validJSON), `"iss":`, `"iss":"https://evil.example/","iss":`, 1))), ErrClaims},
		"duplicate aud, case-folded":    {push(payloadRaw(strings.Replace(string(validJSON), `"aud":`, `"AUD":"x","aud":`, 1))), ErrClaims},
		"duplicate event in events":     {push(payloadRaw(strings.Replace(string(validJSON), `"events":{`, `"events":{"`+EventAccountPurged+`":{},"`+EventAccountPurged+`":{},`, 1))), ErrClaims},
		"duplicate member in sub_id":    {push(payloadRaw(strings.Replace(string(validJSON), `"email":`, `"email":"b@example.com","email":`, 1))), ErrClaims},
		"lone surrogate":                {push(payloadRaw(strings.Replace(string(validJSON), `"jti":"`, `"jti":"\ud800`, 1))), ErrClaims},
		"claims not an object":          {push(payloadRaw(`["iss"]`)), ErrClaims},
		"trailing data after claims":    {push(payloadRaw(string(validJSON) + "x")), ErrClaims},
		"oversized body":                {push(key.sign(valid()) + strings.Repeat("A", DefaultMaxBytes)), ErrBodyTooLarge},
		"content type application/jwt":  {Delivery{ContentType: "application/jwt", Body: []byte(key.sign(valid()))}, ErrContentType},
		"content type application/json": {Delivery{ContentType: "application/json", Body: []byte(key.sign(valid()))}, ErrContentType},
		"no content type":               {Delivery{Body: []byte(key.sign(valid()))}, ErrContentType},
		"content type with a boundary":  {Delivery{ContentType: MediaType + "; boundary=x", Body: []byte(key.sign(valid()))}, ErrContentType},
		"content type latin-1":          {Delivery{ContentType: MediaType + "; charset=latin1", Body: []byte(key.sign(valid()))}, ErrContentType},
		"two content types":             {Delivery{ContentType: MediaType + ", " + MediaType, Body: []byte(key.sign(valid()))}, ErrContentType},
		"a trailing newline":            {push(key.sign(valid()) + "\n"), ErrNotCompact},
		"a line break inside":           {push(strings.Replace(key.sign(valid()), ".", "\r\n.", 1)), ErrNotCompact},
	}
	for name, tc := range cases {
		_, err := r.Receive(ctx, tc.delivery)
		var refusal *Refusal
		if !errors.As(err, &refusal) || refusal != tc.want {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if st.Len() != 0 {
		t.Fatalf("refused SETs left %d keys in the store", st.Len())
	}
	// The same SETs' valid twins pass: each case differs in its one way.
	for _, ct := range []string{MediaType, "Application/SecEvent+JWT", MediaType + "; charset=UTF-8"} {
		if _, err := r.Receive(ctx, Delivery{ContentType: ct, Body: []byte(key.sign(valid()))}); err != nil {
			t.Errorf("content type %q: %v", ct, err)
		}
	}
	for _, typ := range []string{"application/secevent+jwt", "SECEVENT+JWT"} {
		c := valid()
		payload, _ := json.Marshal(c)
		if _, err := r.Receive(ctx, push(key.signRaw(`{"alg":"ES256","kid":"k1","typ":"`+typ+`"}`, string(payload)))); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	// A SET of exactly the limit passes; one byte more is refused.
	body := key.sign(valid())
	for limit, want := range map[int]error{len(body): nil, len(body) - 1: ErrBodyTooLarge} {
		lr, err := NewReceiver(ReceiverOptions{Store: store.NewMemory(), MaxBytes: limit, Transmitters: []Transmitter{
			{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keySource(t, key), Algorithms: []string{"ES256"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lr.Receive(ctx, push(body)); err != want {
			t.Errorf("a SET of %d bytes, limit %d: %v", len(body), limit, err)
		}
	}
	if _, err := r.Receive(ctx, push(with(func(c map[string]any) { c["aud"] = []string{"x", testAudience} }))); err != nil {
		t.Errorf("aud an array naming us: %v", err)
	}
	if _, err := r.Receive(ctx, push(rsaKey.sign(valid()))); err != nil {
		t.Errorf("the transmitter's RSA key: %v", err)
	}
}

func TestReceiveRefusesAnotherTransmittersKey(t *testing.T) {
	ctx := context.Background()
	ours, theirs := newECKey(t, "a"), newECKey(t, "b")
	r, err := NewReceiver(ReceiverOptions{Store: store.NewMemory(), Transmitters: []Transmitter{
		{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keySource(t, ours), Algorithms: []string{"ES256"}},
		{Issuer: "https://other.example/", Audiences: []string{testAudience}, Keys: keySource(t, theirs), Algorithms: []string{"ES256"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The other transmitter signs a SET in our transmitter's name, with a
	// kid that names its own key.
	c := claims(EventAccountPurged, map[string]any{}, emailSubject("a@example.com"))
	if _, err := r.Receive(ctx, push(theirs.sign(c))); !errors.Is(err, ErrKey) {
		t.Fatalf("%v", err)
	}
	c["iss"] = "https://other.example/"
	if _, err := r.Receive(ctx, push(theirs.sign(c))); err != nil {
		t.Fatalf("its own SET: %v", err)
	}
}

func TestReceiveChecksTheAuthorizationHeader(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key), func(tr *Transmitter) { tr.Authorization = "Bearer s3cret-push-token" })
	for _, header := range []string{"", "Bearer s3cret-push-toke", "bearer s3cret-push-token", "Bearer s3cret-push-token ", "Basic x"} {
		d := push(key.sign(claims(EventAccountPurged, map[string]any{}, emailSubject("a@example.com"))))
		d.Authorization = header
		if _, err := r.Receive(ctx, d); !errors.Is(err, ErrAuthorization) {
			t.Errorf("%q: %v", header, err)
		}
	}
	d := push(key.sign(claims(EventAccountPurged, map[string]any{}, emailSubject("a@example.com"))))
	d.Authorization = "Bearer s3cret-push-token"
	if _, err := r.Receive(ctx, d); err != nil {
		t.Fatal(err)
	}
}

func TestReceiveTakesEachJTIOnce(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	st := store.NewMemory()
	r := newTestReceiver(t, st, keySource(t, key))
	c := claims(EventSessionsRevoked, map[string]any{}, emailSubject("a@example.com"))
	body := key.sign(c)
	a, err := r.Receive(ctx, push(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Receive(ctx, push(body)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("replay: %v", err)
	}
	// Another SET with the same jti (signed anew, another event) is the
	// same SET to the receiver.
	c["events"] = map[string]any{EventAccountPurged: map[string]any{}}
	if _, err := r.Receive(ctx, push(key.sign(c))); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same jti, other SET: %v", err)
	}
	// A caller that could not apply it forgets it: the transmitter's retry
	// is taken.
	r.Forget(ctx, a)
	if _, err := r.Receive(ctx, push(body)); err != nil {
		t.Fatalf("retry after Forget: %v", err)
	}
	// The marker lives as long as the iat can pass, and a minute more.
	if ttl := r.markerTTL(); ttl != DefaultMaxAge+DefaultLeeway+time.Minute {
		t.Fatalf("marker TTL %s", ttl)
	}
}

func TestReceiveFailsClosedWhenTheStoreFails(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	st := store.NewMemory()
	r := newTestReceiver(t, st, keySource(t, key))
	_ = st.Close()
	if _, err := r.Receive(ctx, push(key.sign(claims(EventAccountPurged, map[string]any{}, emailSubject("a@example.com"))))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v", err)
	}
}

func TestVerificationStates(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key), func(tr *Transmitter) { tr.StreamID = "stream-1" })
	stream := map[string]any{"format": "opaque", "id": "stream-1"}
	// A transmitter's own verification event carries no state.
	a, err := r.Receive(ctx, push(key.sign(claims(EventVerification, map[string]any{}, stream))))
	if err != nil || a.Decision.Action != ActionVerification || a.Decision.StreamID != "stream-1" {
		t.Fatalf("%+v %v", a, err)
	}
	// A state the receiver never asked for is invalid_state, and does not
	// spend the SET's jti.
	c := claims(EventVerification, map[string]any{"state": "s-1"}, stream)
	if _, err := r.Receive(ctx, push(key.sign(c))); !errors.Is(err, ErrState) {
		t.Fatalf("unasked state: %v", err)
	}
	if err := r.ExpectState(ctx, testIssuer, "s-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if a, err := r.Receive(ctx, push(key.sign(c))); err != nil || a.Decision.State != "s-1" {
		t.Fatalf("asked state: %+v %v", a, err)
	}
	// Once.
	if _, err := r.Receive(ctx, push(key.sign(claims(EventVerification, map[string]any{"state": "s-1"}, stream)))); !errors.Is(err, ErrState) {
		t.Fatalf("state twice: %v", err)
	}
	// Another stream, another subject format.
	for _, sub := range []map[string]any{{"format": "opaque", "id": "stream-2"}, emailSubject("a@example.com")} {
		_, err := r.Receive(ctx, push(key.sign(claims(EventVerification, map[string]any{}, sub))))
		if !errors.Is(err, ErrStream) && !errors.Is(err, ErrSubject) {
			t.Errorf("%v: %v", sub, err)
		}
	}
	a, err = r.Receive(ctx, push(key.sign(claims(EventStreamUpdated, map[string]any{"status": "paused", "reason": "maintenance"}, stream))))
	if err != nil || a.Decision.Action != ActionStreamUpdated || a.Decision.Status != "paused" || a.Decision.Reason != "maintenance" {
		t.Fatalf("stream-updated: %+v %v", a, err)
	}
	for _, bad := range []map[string]any{{"status": "stopped"}, {}, {"status": "paused", "reason": 5}} {
		if _, err := r.Receive(ctx, push(key.sign(claims(EventStreamUpdated, bad, stream)))); !errors.Is(err, ErrEventPayload) {
			t.Errorf("stream-updated %v: %v", bad, err)
		}
	}
}

func TestNewReceiverChecksItsOptions(t *testing.T) {
	keys := keySource(t, newECKey(t, "k"))
	good := Transmitter{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: keys}
	for name, opts := range map[string]ReceiverOptions{
		"no transmitter":    {Store: store.NewMemory()},
		"no store":          {Transmitters: []Transmitter{good}},
		"no audience":       {Store: store.NewMemory(), Transmitters: []Transmitter{{Issuer: testIssuer, Keys: keys}}},
		"no issuer":         {Store: store.NewMemory(), Transmitters: []Transmitter{{Audiences: []string{"a"}, Keys: keys}}},
		"HS256":             {Store: store.NewMemory(), Transmitters: []Transmitter{{Issuer: testIssuer, Audiences: []string{"a"}, Keys: keys, Algorithms: []string{"HS256"}}}},
		"none":              {Store: store.NewMemory(), Transmitters: []Transmitter{{Issuer: testIssuer, Audiences: []string{"a"}, Keys: keys, Algorithms: []string{"none"}}}},
		"twice":             {Store: store.NewMemory(), Transmitters: []Transmitter{good, good}},
		"max_age over 24h":  {Store: store.NewMemory(), Transmitters: []Transmitter{good}, MaxAge: 25 * time.Hour},
		"leeway over 60s":   {Store: store.NewMemory(), Transmitters: []Transmitter{good}, Leeway: 61 * time.Second},
		"negative leeway":   {Store: store.NewMemory(), Transmitters: []Transmitter{good}, Leeway: -time.Second},
		"negative max_age ": {Store: store.NewMemory(), Transmitters: []Transmitter{good}, MaxAge: -time.Second},
	} {
		if _, err := NewReceiver(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStreamState(t *testing.T) {
	ctx := context.Background()
	key := newECKey(t, "k")
	r := newTestReceiver(t, store.NewMemory(), keySource(t, key))
	if s, err := r.Stream(ctx, testIssuer); err != nil || s.Status != "enabled" || !s.VerifiedAt.IsZero() {
		t.Fatalf("before any event: %+v %v", s, err)
	}
	stream := map[string]any{"format": "opaque", "id": "st"}
	for _, c := range []map[string]any{
		claims(EventStreamUpdated, map[string]any{"status": "paused", "reason": "maintenance"}, stream),
		claims(EventVerification, map[string]any{}, stream),
	} {
		a, err := r.Receive(ctx, push(key.sign(c)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.RecordStream(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	s, err := r.Stream(ctx, testIssuer)
	if err != nil || s.Status != "paused" || s.Reason != "maintenance" || s.StreamID != "st" || s.VerifiedAt.IsZero() || s.UpdatedAt.IsZero() {
		t.Fatalf("%+v %v", s, err)
	}
}
