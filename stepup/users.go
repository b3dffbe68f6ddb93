package stepup

import (
	"context"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
	"go.uber.org/zap"
)

// Users, and the identifiers that reach them. An identifier (a phone
// number, an email address) counts for a user (a code or password login
// with it finds the user; step-up codes go to it) only when both hold:
//
//   - the user's record holds it as proven: by the gateway itself, which
//     sent it a code and got that code back (an OTP login, a sign-up), or
//     by an OpenID provider the configuration trusts with its verified
//     addresses (OAuthLogin.TrustVerifiedIdentifiers), for as long as it
//     does;
//   - the identifier's index (identKey) names that user.
//
// What a provider asserts without that trust is contact data on the user:
// never indexed, never a code's destination. A code login whose
// identifier's index names a user for whom it does not count (an entry
// written before proofs were recorded, a provider no longer trusted, an
// index left behind by a failed write) gives the code's prover a user of
// their own: the gateway's proof outranks anyone's assertion.

// Who proved an identifier (userIdentifier.ProvenBy).
const (
	provenByCode     = "code"
	provenByProvider = "provider"
)

// userIdentifier is an identifier on a user record and what vouches for it.
type userIdentifier struct {
	Identifier
	// ProvenBy is provenByCode, provenByProvider, or "" for contact data:
	// an address a provider asserted without being trusted with it, or an
	// entry written before proofs were recorded (such entries count for
	// nothing until the gateway proves them).
	ProvenBy string `json:"proven_by,omitempty"`
	// ProvenAt is when (Unix s): the latest code for provenByCode, the
	// first vouching for provenByProvider.
	ProvenAt int64 `json:"proven_at,omitempty"`
	// Issuer is the OpenID provider that asserted it (contact data) or
	// vouched for it (provenByProvider).
	Issuer string `json:"issuer,omitempty"`
}

// userRecord is a user, created at their first successful login.
type userRecord struct {
	V           int              `json:"v"`
	ID          string           `json:"id"`
	Identifiers []userIdentifier `json:"identifiers"`
	Created     int64            `json:"created"`
	// Password is the argon2id hash (PHC string) of the user's password;
	// "" for users who never set one.
	Password string `json:"password,omitempty"`
}

// find returns the user's entry for ident, or nil.
func (u *userRecord) find(ident Identifier) *userIdentifier {
	for i := range u.Identifiers {
		if u.Identifiers[i].Identifier == ident {
			return &u.Identifiers[i]
		}
	}
	return nil
}

// clone copies u, its identifiers included, for a compare-and-swap.
func (u *userRecord) clone() userRecord {
	c := *u
	c.Identifiers = append([]userIdentifier{}, u.Identifiers...)
	return c
}

// proven reports whether an entry counts as proven now: by a code, or by
// a provider that is still trusted with its verified addresses.
func (e *Engine) proven(ui *userIdentifier) bool {
	switch ui.ProvenBy {
	case provenByCode:
		return true
	case provenByProvider:
		return e.trustedIssuers[ui.Issuer]
	}
	return false
}

// newCodeUser is a new user whose one identifier a code just proved.
func (e *Engine) newCodeUser(ident Identifier) *userRecord {
	now := e.now().Unix()
	return &userRecord{V: recordVersion, ID: newID(prefixUser), Created: now,
		Identifiers: []userIdentifier{{Identifier: ident, ProvenBy: provenByCode, ProvenAt: now}}}
}

// logIndexMoved says that a code login moved an identifier's index from
// the user it named to a new one.
func (e *Engine) logIndexMoved(previous, user string) {
	e.log.Info("login: a code proved an identifier that did not count for the user its index named; the index now names a new user",
		zap.String("previous_user", previous), zap.String("user", user))
}

// moveIndex points ident's index, if it still holds rawIndex, at a new
// user whose identifier a code just proved. ErrConflict: it changed
// meanwhile; read it again.
func (e *Engine) moveIndex(ctx context.Context, ident Identifier, rawIndex []byte) (*userRecord, error) {
	u := e.newCodeUser(ident)
	if err := e.cfg.Store.Set(ctx, userKey(u.ID), mustJSON(u), e.cfg.UserTTL); err != nil {
		return nil, storeErr(err)
	}
	err := e.cfg.Store.Swap(ctx, identKey(ident.Type, ident.Value), rawIndex, mustJSON(u.ID), e.cfg.UserTTL)
	if err == nil {
		e.userCreated(u)
		return u, nil
	}
	_ = e.cfg.Store.Delete(ctx, userKey(u.ID)) // nobody's; it would expire anyway
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, store.ErrConflict
	}
	return nil, storeErr(err)
}

// indexedTo reports whether ident's index names userID.
func (e *Engine) indexedTo(ctx context.Context, ident Identifier, userID string) (bool, error) {
	var owner string
	_, err := e.load(ctx, identKey(ident.Type, ident.Value), &owner)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return owner == userID, nil
}

// destinations are the identifiers that count for u (proven, and indexed
// to u): the only ones step-up codes go to and the delegation hook hears
// of. The indexes are read in one batch.
func (e *Engine) destinations(ctx context.Context, u *userRecord) ([]Identifier, error) {
	var proven []Identifier
	var reads []*store.Op
	for i := range u.Identifiers {
		if ui := &u.Identifiers[i]; e.proven(ui) {
			proven = append(proven, ui.Identifier)
			reads = append(reads, store.GetOp(identKey(ui.Type, ui.Value)))
		}
	}
	store.Do(ctx, e.cfg.Store, reads...)
	out := []Identifier{}
	for i, read := range reads {
		var owner string
		switch err := e.decode(read, &owner); {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case owner == u.ID:
			out = append(out, proven[i])
		}
	}
	return out, nil
}

// stillReaches reports whether ident still counts for the user userID,
// read again now (a step's code is sent after its challenge was made).
func (e *Engine) stillReaches(ctx context.Context, userID string, ident Identifier) (bool, error) {
	var u userRecord
	if _, err := e.load(ctx, userKey(userID), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if held := u.find(ident); held == nil || !e.proven(held) {
		return false, nil
	}
	return e.indexedTo(ctx, ident, userID)
}
