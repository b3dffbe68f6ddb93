package stepup

import (
	"context"
	"errors"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Who an OAuth login is (users.go says what an identifier counts for).

// oauthUser finds the user linked to the provider's (issuer, subject), or
// creates one: that pair alone says who logged in. The email address and
// phone number the provider says are verified are recorded on the user
// (users.go): as contact data, which reaches nothing; or, for a provider
// trusted with its verified addresses, as proven and indexed, unless the
// index names another user already (a provider's word never takes over an
// identifier someone holds).
func (e *Engine) oauthUser(ctx context.Context, p OAuthLogin, id *OAuthIdentity) (*userRecord, error) {
	linkKey := identKey("oidc", id.Issuer+" "+id.Subject)
	var asserted []Identifier
	if v, ok := normalizeIdentifier(IdentifierEmail, id.Email); ok && id.EmailVerified {
		asserted = append(asserted, Identifier{Type: IdentifierEmail, Value: v})
	}
	if v, ok := normalizeIdentifier(IdentifierPhone, id.Phone); ok && id.PhoneVerified {
		asserted = append(asserted, Identifier{Type: IdentifierPhone, Value: v})
	}
	for attempt := 0; attempt < 3; attempt++ {
		var userID string
		_, err := e.load(ctx, linkKey, &userID)
		switch {
		case err == nil:
			var u userRecord
			raw, err := e.load(ctx, userKey(userID), &u)
			if errors.Is(err, store.ErrNotFound) {
				if err := e.cfg.Store.Delete(ctx, linkKey); err != nil {
					return nil, storeErr(err)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			next := u.clone()
			if err := e.recordAssertions(ctx, &next, p, id.Issuer, asserted); err != nil {
				return nil, err
			}
			if err := e.cfg.Store.Swap(ctx, userKey(u.ID), raw, mustJSON(next), e.cfg.UserTTL); err != nil {
				if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					continue
				}
				return nil, storeErr(err)
			}
			e.identifiersAdded(&u, &next)
			if err := e.cfg.Store.Set(ctx, linkKey, mustJSON(u.ID), e.cfg.UserTTL); err != nil {
				return nil, storeErr(err)
			}
			return &next, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		u := &userRecord{V: recordVersion, ID: newID(prefixUser), Created: e.now().Unix(), Identifiers: []userIdentifier{}}
		err = e.cfg.Store.Create(ctx, linkKey, mustJSON(u.ID), e.cfg.UserTTL)
		if errors.Is(err, store.ErrExists) {
			continue // a concurrent first login linked it: read it
		}
		if err != nil {
			return nil, storeErr(err)
		}
		if err := e.recordAssertions(ctx, u, p, id.Issuer, asserted); err != nil {
			return nil, err
		}
		if err := e.cfg.Store.Set(ctx, userKey(u.ID), mustJSON(u), e.cfg.UserTTL); err != nil {
			return nil, storeErr(err)
		}
		e.userCreated(u)
		return u, nil
	}
	return nil, unavailable(errors.New("user link keeps changing"))
}

// recordAssertions writes what a provider asserted onto u. Without trust
// (the default) a new address becomes contact data and nothing else; an
// entry already there is left as it is. With trust, an address is indexed
// to u unless the index names someone else: then it stays (or becomes)
// contact data here.
func (e *Engine) recordAssertions(ctx context.Context, u *userRecord, p OAuthLogin, issuer string, asserted []Identifier) error {
	for _, ident := range asserted {
		held := u.find(ident)
		if !p.TrustVerifiedIdentifiers {
			if held == nil {
				u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, Issuer: issuer})
			}
			continue
		}
		ours, err := e.indexIdentifier(ctx, ident, u.ID)
		if err != nil {
			return err
		}
		switch {
		case held == nil && ours:
			u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, ProvenBy: provenByProvider,
				ProvenAt: e.now().Unix(), Issuer: issuer})
		case held == nil:
			u.Identifiers = append(u.Identifiers, userIdentifier{Identifier: ident, Issuer: issuer})
		case ours && !e.proven(held):
			*held = userIdentifier{Identifier: ident, ProvenBy: provenByProvider, ProvenAt: e.now().Unix(), Issuer: issuer}
		case !ours && held.ProvenBy == provenByProvider:
			*held = userIdentifier{Identifier: ident, Issuer: issuer} // its index went to a code's prover
		}
	}
	return nil
}

// indexIdentifier points an identifier's index at userID unless it names
// another user; it reports whether the index names userID.
func (e *Engine) indexIdentifier(ctx context.Context, ident Identifier, userID string) (bool, error) {
	err := e.cfg.Store.Create(ctx, identKey(ident.Type, ident.Value), mustJSON(userID), e.cfg.UserTTL)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, store.ErrExists):
		return false, storeErr(err)
	}
	return e.indexedTo(ctx, ident, userID)
}
