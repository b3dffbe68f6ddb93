package stepup

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Login tickets: what a password login, a sign-up or an OAuth callback
// hands the client as its `challenge_token`, and /login/finalize turns,
// once, into a DPoP-bound session (or, for a sign-up, into the code that
// proves the address).

// Kinds of ticket.
const (
	ticketPassword = "password"
	ticketSignUp   = "sign_up"
	ticketOAuth    = "oauth"
	ticketPasskey  = "passkey"
)

// loginTicket is a login waiting for /login/finalize, stored under an
// unguessable ID for ticketTTL and taken once.
type loginTicket struct {
	V      int       `json:"v"`
	Kind   string    `json:"kind"`
	UserID string    `json:"user_id,omitempty"` // password, oauth, passkey
	Email  string    `json:"email,omitempty"`   // password (the device cookie's identifier), sign_up
	Hash   string    `json:"hash,omitempty"`    // sign_up: the new password's argon2id hash
	Event  authEvent `json:"event"`             // password, oauth, passkey
	// CodeChallenge is the PKCE S256 challenge the app sent when it began
	// an OAuth login: finalizing needs its verifier.
	CodeChallenge string `json:"code_challenge,omitempty"`
	// Refund (sign_up): the counters the sign-up's login flow gives back
	// when its code is proven.
	Refund []string `json:"refund,omitempty"`
}

// issueTicket stores t and returns its ID.
func (e *Engine) issueTicket(ctx context.Context, t loginTicket) (string, error) {
	t.V = recordVersion
	id := newID(prefixTicket)
	if err := e.cfg.Store.Create(ctx, ticketKey(id), mustJSON(t), ticketTTL); err != nil {
		return "", storeErr(err)
	}
	return id, nil
}

// Finalized is a finalized login: a session, or, for a sign-up, the login
// flow whose code was just sent to the address (its ID goes into the
// verification cookie; checking the code opens the session).
type Finalized struct {
	Tokens *Tokens
	FlowID string
}

// FinalizeOffered reports whether any login that ends in /login/finalize
// (password, sign-up, OAuth, passkey) is on.
func (e *Engine) FinalizeOffered() bool {
	return e.passwords != nil || len(e.cfg.OAuth) > 0 || e.PasskeyLoginOffered()
}

// FinalizeLogin takes a ticket, once, and finishes its login with the
// client's DPoP key. An OAuth ticket also needs the PKCE verifier of the
// challenge the app began with. A ticket that fails any check is gone:
// it is never tried twice.
func (e *Engine) FinalizeLogin(ctx context.Context, ticketID, codeVerifier string, proof *dpop.Proof, client ClientInfo) (done *Finalized, err error) {
	method := ""
	defer func() {
		if done != nil && done.Tokens != nil {
			e.loginResult(method, client, done.Tokens, nil)
		}
	}()
	if proof == nil {
		return nil, ErrMissingDPoP
	}
	if !validID(prefixTicket, ticketID) || len(codeVerifier) > 128 {
		return nil, ErrInvalidLoginTicket
	}
	raw, err := e.cfg.Store.Get(ctx, ticketKey(ticketID))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidLoginTicket
		}
		return nil, storeErr(err)
	}
	var t loginTicket
	if err := json.Unmarshal(raw, &t); err != nil { // a record this gateway stored
		return nil, unavailable(err)
	}
	method = t.Kind
	if !t.accepts(codeVerifier) {
		// A wrong verifier spends the ticket: it is never tried twice.
		if _, err := e.cfg.Store.Take(ctx, ticketKey(ticketID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeErr(err)
		}
		return nil, ErrInvalidLoginTicket
	}
	// What the login needs is written first and the ticket spent last, so
	// that a store failure (503) leaves the ticket for the client's retry;
	// of concurrent finalizations the one that takes the ticket wins.
	if t.Kind == ticketSignUp {
		id, err := e.openLoginFlow(ctx, loginFlow{V: recordVersion, Type: IdentifierEmail, Value: t.Email, SignUpHash: t.Hash, Refund: t.Refund}, client)
		if err != nil {
			return nil, err
		}
		if err := e.spendTicket(ctx, ticketID); err != nil {
			_ = e.cfg.Store.Delete(ctx, flowKey(id))
			return nil, err
		}
		return &Finalized{FlowID: id}, nil
	}
	if err := e.markProofUsed(ctx, proof); err != nil {
		return nil, err
	}
	var u userRecord
	if _, err := e.load(ctx, userKey(t.UserID), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidLoginTicket
		}
		return nil, err
	}
	tokens, err := e.createSession(ctx, &u, proof.Thumbprint, t.Event, client)
	if err != nil {
		return nil, err
	}
	if err := e.spendTicket(ctx, ticketID); err != nil {
		e.discardSession(ctx, tokens)
		return nil, err
	}
	if t.Kind == ticketPassword {
		tokens.Device = e.deviceCookie(IdentifierEmail, t.Email, proof.Thumbprint)
		tokens.proved = &Identifier{Type: IdentifierEmail, Value: t.Email}
	}
	return &Finalized{Tokens: tokens}, nil
}

// accepts reports whether the ticket is of a known kind and the PKCE
// verifier is what its kind needs (only OAuth tickets take one).
func (t *loginTicket) accepts(codeVerifier string) bool {
	switch t.Kind {
	case ticketOAuth:
		return pkceMatches(t.CodeChallenge, codeVerifier)
	case ticketSignUp, ticketPassword, ticketPasskey:
		return codeVerifier == ""
	default:
		return false
	}
}

// spendTicket takes the ticket; one that is gone was spent by a concurrent
// finalization.
func (e *Engine) spendTicket(ctx context.Context, ticketID string) error {
	if _, err := e.cfg.Store.Take(ctx, ticketKey(ticketID)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalidLoginTicket
		}
		return storeErr(err)
	}
	return nil
}

// pkceMatches checks an RFC 7636 S256 verifier (43 to 128 characters of
// [A-Za-z0-9-._~]) against its challenge, in constant time.
func pkceMatches(challenge, verifier string) bool {
	if challenge == "" || len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
