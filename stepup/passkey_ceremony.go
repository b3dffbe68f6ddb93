package stepup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// WebAuthn ceremonies in flight. The library hands back a SessionData to
// keep between a ceremony's begin and finish; its serialized form changes
// between the library's releases, so the engine keeps what it needs in a
// record of its own (passkeyCeremony), server side only: under the
// registration or login token for those ceremonies (taken once), inside
// the challenge record for a verify_passkey step. Nothing of it comes back
// from the client.

// Kinds of ceremony.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	ceremonyStep     = "step"
)

// ceremonyTTL is how long a registration or login ceremony may take: the
// library's own client timeout (5 minutes), and a minute for the network.
const ceremonyTTL = 6 * time.Minute

// Identifier prefixes of ceremony tokens.
const (
	prefixRegistration = "pkr_"
	prefixPasskeyLogin = "pkl_"
)

// passkeyCeremony is what a ceremony's finish checks the client's answer
// against.
type passkeyCeremony struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// UserID is the user the ceremony is for (its WebAuthn user handle);
	// "" for a login, whose user the credential names. SessionID is the
	// session that began a registration.
	UserID    string `json:"user_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Challenge string `json:"challenge"` // base64url of 32 random bytes
	RPID      string `json:"rp_id"`
	UV        string `json:"uv"`
	// Allowed are the credential IDs a step's assertion may use (the
	// user's, when the step began).
	Allowed []string `json:"allowed,omitempty"`
	// Algs are the COSE algorithms a registration offered.
	Algs     []int64 `json:"algs,omitempty"`
	Nickname string  `json:"nickname,omitempty"`
	Expires  int64   `json:"expires"` // Unix s
}

// fromSession copies what the library's begin recorded.
func (c *passkeyCeremony) fromSession(sd *webauthn.SessionData) error {
	if !sd.Extensions.IsZero() {
		return errors.New("passkey ceremony: extensions were requested that the ceremony record does not keep")
	}
	c.Challenge, c.RPID, c.UV = sd.Challenge, sd.RelyingPartyID, string(sd.UserVerification)
	for _, id := range sd.AllowedCredentialIDs {
		c.Allowed = append(c.Allowed, base64.RawURLEncoding.EncodeToString(id))
	}
	for _, p := range sd.CredParams {
		c.Algs = append(c.Algs, int64(p.Algorithm))
	}
	return nil
}

// session is the library's SessionData for the ceremony's finish. Its
// Expires stays zero: the record's own expiry, on the engine's clock,
// bounds the ceremony.
func (c *passkeyCeremony) session() webauthn.SessionData {
	sd := webauthn.SessionData{Challenge: c.Challenge, RelyingPartyID: c.RPID,
		UserVerification: protocol.UserVerificationRequirement(c.UV)}
	if c.Kind != ceremonyLogin {
		sd.UserID = []byte(c.UserID)
	}
	for _, id := range c.Allowed {
		raw, _ := base64.RawURLEncoding.DecodeString(id) // written by fromSession
		sd.AllowedCredentialIDs = append(sd.AllowedCredentialIDs, raw)
	}
	for _, alg := range c.Algs {
		sd.CredParams = append(sd.CredParams, protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType,
			Algorithm: webauthncose.COSEAlgorithmIdentifier(alg)})
	}
	return sd
}

// storeCeremony keeps a registration or login ceremony under a new token.
func (e *Engine) storeCeremony(ctx context.Context, prefix string, c *passkeyCeremony) (string, error) {
	c.V = recordVersion
	c.Expires = e.now().Add(ceremonyTTL).Unix()
	id := newID(prefix)
	if err := e.cfg.Store.Create(ctx, passkeyCeremonyKey(id), mustJSON(c), ceremonyTTL); err != nil {
		return "", storeErr(err)
	}
	return id, nil
}

// takeCeremony takes a ceremony, once: whatever its finish decides, the
// token is spent. Unknown, expired and spent tokens give errGone.
func (e *Engine) takeCeremony(ctx context.Context, prefix, id, kind string, errGone error) (*passkeyCeremony, error) {
	if !validID(prefix, id) {
		return nil, errGone
	}
	raw, err := e.cfg.Store.Take(ctx, passkeyCeremonyKey(id))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGone
		}
		return nil, storeErr(err)
	}
	var c passkeyCeremony
	if err := json.Unmarshal(raw, &c); err != nil { // a record this gateway stored
		return nil, unavailable(err)
	}
	if c.Kind != kind || e.now().Unix() >= c.Expires {
		return nil, errGone
	}
	return &c, nil
}

// passkeyUser is a user as the library sees one: the user handle is the
// gateway's user ID (random, 128 bits, never personal data).
type passkeyUser struct {
	id, name, displayName string
	credentials           []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// newPasskeyUser is userID with its usable credentials.
func (e *Engine) newPasskeyUser(userID string, records []passkeyRecord) (*passkeyUser, error) {
	u := &passkeyUser{id: userID}
	for i := range records {
		c, err := records[i].credential()
		if err != nil {
			return nil, unavailable(err)
		}
		u.credentials = append(u.credentials, c)
	}
	return u, nil
}

// requestOptions begins an assertion: allowed are the credentials it may
// use (none: any discoverable credential of the relying party). It
// returns the PublicKeyCredentialRequestOptionsJSON, flat (rpId at the
// top, as the SDKs read it), and the ceremony to keep.
func (e *Engine) requestOptions(kind string, allowed []passkeyRecord) (json.RawMessage, *passkeyCeremony, error) {
	descriptors := make([]protocol.CredentialDescriptor, 0, len(allowed))
	for i := range allowed {
		descriptors = append(descriptors, allowed[i].descriptor())
	}
	assertion, sd, err := e.rp.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(descriptors),
		webauthn.WithUserVerification(protocol.UserVerificationRequirement(e.cfg.Passkeys.UserVerification)))
	if err != nil {
		return nil, nil, unavailable(err)
	}
	c := &passkeyCeremony{V: recordVersion, Kind: kind}
	if err := c.fromSession(sd); err != nil {
		return nil, nil, unavailable(err)
	}
	raw, err := json.Marshal(assertion.Response)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	return raw, c, nil
}

// passkeyUse is a verified assertion: the credential it used (as stored
// after it) and what the authenticator checked.
type passkeyUse struct {
	record   passkeyRecord
	verified bool // the authenticator verified its user (UV) this time
}

// methods are the RFC 8176 values of a passkey use: hwk for a device-bound
// key, swk for a syncable one; pin when the authenticator verified its
// user (a PIN, pattern or biometric unlocks the key: RFC 8176 has no
// narrower value the authenticator reports), user when it only saw one
// present.
func (u *passkeyUse) methods() []string {
	amr := []string{"swk"}
	if u.record.deviceBound() {
		amr[0] = "hwk"
	}
	if u.verified {
		return append(amr, "pin")
	}
	return append(amr, "user")
}

// level is what a passkey use proves for the passkey acr values: hwk
// (device-bound) or swk.
func (u *passkeyUse) level() string { return u.methods()[0] }
