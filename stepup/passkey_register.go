package stepup

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Enrolment (POST /me/passkeys/register/begin and /finish). It needs the
// prld:passkey:write scope, which a step-up just before grants, and spends
// it: a stolen access token alone cannot add a passkey, and one step-up
// adds one passkey.

// PasskeyWriteScope is the scope enrolment needs and spends.
const PasskeyWriteScope = "prld:passkey:write"

// ScopeHold is how the caller's access token holds PasskeyWriteScope: in
// its scope claim, and, when a single-use grant put it there, that
// grant's ID (its grt claim). A session-bound grant lives in the session.
// Either way the engine checks, and spends, the grant in the store: the
// token's word alone is not enough.
type ScopeHold struct {
	InToken bool
	GrantID string
}

// RegistrationStart is the answer to register/begin.
type RegistrationStart struct {
	// Options are the PublicKeyCredentialCreationOptionsJSON, flat (rp.id,
	// user, challenge, pubKeyCredParams... at the top), for
	// navigator.credentials.create.
	Options json.RawMessage
	// Token names the ceremony for register/finish: single use, for
	// ceremonyTTL.
	Token string
}

// BeginPasskeyRegistration starts enrolling a passkey for the caller.
// username and displayName are what the authenticator shows (displayName
// defaults to username); nickname is the gateway's label for the list.
func (e *Engine) BeginPasskeyRegistration(ctx context.Context, caller Caller, hold ScopeHold, username, displayName, nickname string) (*RegistrationStart, error) {
	if e.cfg.Passkeys == nil {
		return nil, ErrPasskeyNotConfigured
	}
	if displayName == "" {
		displayName = username
	}
	if !validLabel(username, maxUserNameBytes, false) || !validLabel(displayName, maxUserNameBytes, false) ||
		!validLabel(nickname, maxNicknameBytes, true) {
		return nil, ErrBadRequest
	}
	sess, user, err := e.callerSession(ctx, caller)
	if err != nil {
		return nil, err
	}
	if err := e.holdsWriteScope(ctx, sess, hold); err != nil {
		return nil, err
	}
	l, _, err := e.loadPasskeys(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if len(l.Credentials) >= maxPasskeysPerUser {
		return nil, ErrTooManyPasskeys
	}
	p := e.cfg.Passkeys
	usable := l.usable(p.RPID)
	exclude := make([]protocol.CredentialDescriptor, 0, len(usable))
	for i := range usable {
		exclude = append(exclude, usable[i].descriptor())
	}
	// Passkey login finds credentials without a user name: they must be
	// discoverable (resident).
	selection := protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementPreferred,
		UserVerification: protocol.UserVerificationRequirement(p.UserVerification)}
	if p.Login {
		selection.ResidentKey = protocol.ResidentKeyRequirementRequired
		selection.RequireResidentKey = protocol.ResidentKeyRequired()
	}
	creation, sd, err := e.rp.BeginRegistration(&passkeyUser{id: user.ID, name: username, displayName: displayName},
		webauthn.WithExclusions(exclude), webauthn.WithAuthenticatorSelection(selection),
		webauthn.WithConveyancePreference(protocol.ConveyancePreference(p.Attestation)))
	if err != nil {
		return nil, unavailable(err)
	}
	c := &passkeyCeremony{Kind: ceremonyRegister, UserID: user.ID, SessionID: sess.ID, Nickname: nickname}
	if err := c.fromSession(sd); err != nil {
		return nil, unavailable(err)
	}
	options, err := json.Marshal(creation.Response)
	if err != nil {
		return nil, unavailable(err)
	}
	token, err := e.storeCeremony(ctx, prefixRegistration, c)
	if err != nil {
		return nil, err
	}
	return &RegistrationStart{Options: options, Token: token}, nil
}

// FinishPasskeyRegistration verifies the authenticator's answer
// (RegistrationResponseJSON: id, rawId, type and response.clientDataJSON
// and attestationObject are what it needs; iOS sends no more) and stores
// the credential. A credential the user already holds (same ID, same
// public key) changes nothing and is reported as already registered.
func (e *Engine) FinishPasskeyRegistration(ctx context.Context, caller Caller, hold ScopeHold, token string, attestation []byte) (*Passkey, bool, error) {
	if e.cfg.Passkeys == nil {
		return nil, false, ErrPasskeyNotConfigured
	}
	c, err := e.takeCeremony(ctx, prefixRegistration, token, ceremonyRegister, ErrPasskeyRegistration)
	if err != nil {
		return nil, false, err
	}
	if c.UserID != caller.UserID || c.SessionID != caller.SessionID {
		return nil, false, ErrPasskeyRegistration // another session's ceremony
	}
	sess, user, err := e.callerSession(ctx, caller)
	if err != nil {
		return nil, false, err
	}
	if err := e.holdsWriteScope(ctx, sess, hold); err != nil {
		return nil, false, err
	}
	if len(attestation) == 0 || len(attestation) > maxAttestationBytes {
		return nil, false, ErrPasskeyRegistration
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(attestation)
	if err != nil {
		e.debug("passkey registration unreadable", err)
		return nil, false, ErrPasskeyRegistration
	}
	cred, err := e.rp.CreateCredential(&passkeyUser{id: user.ID}, c.session(), parsed)
	if err != nil {
		e.debug("passkey registration refused", err)
		return nil, false, ErrPasskeyRegistration
	}
	if err := e.allowedAuthenticator(cred); err != nil {
		return nil, false, err
	}
	rec := e.newPasskeyRecord(cred, c)
	already := false
	err = e.changePasskeys(ctx, user.ID, func(l *passkeyList) error {
		if held := l.find(rec.ID); held != nil {
			if held.RPID != rec.RPID || !bytes.Equal(held.PublicKey, rec.PublicKey) {
				return ErrPasskeyRegistration // the same ID with another key: keep the one enrolled
			}
			already, rec = true, *held
			return nil
		}
		if len(l.Credentials) >= maxPasskeysPerUser {
			return ErrTooManyPasskeys
		}
		already = false
		l.Credentials = append(l.Credentials, rec)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	view := rec.view()
	if already {
		return &view, true, nil // nothing changed: the scope stays for an enrolment that does
	}
	// The credential is stored first and the scope spent after: of two
	// enrolments that share one grant, the one that spends it keeps its
	// credential, the other takes its own back.
	if err := e.spendWriteScope(ctx, sess, hold); err != nil {
		if undo := e.removePasskey(ctx, user.ID, rec.ID); undo != nil {
			return nil, false, undo
		}
		return nil, false, err
	}
	e.touchUser(ctx, user.ID)
	e.emit(Event{Name: EventPasskeyRegistered, UserID: user.ID, SessionID: sess.ID})
	return &view, false, nil
}

// maxAttestationBytes bounds a registration answer's JSON before it is
// parsed.
const maxAttestationBytes = 32 << 10

// newPasskeyRecord is the record of a credential the library verified.
func (e *Engine) newPasskeyRecord(cred *webauthn.Credential, c *passkeyCeremony) passkeyRecord {
	now := e.now().Unix()
	rec := passkeyRecord{ID: base64.RawURLEncoding.EncodeToString(cred.ID), RPID: c.RPID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UVInitialized: cred.Flags.UserVerified, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		Attachment: string(cred.Authenticator.Attachment), Nickname: c.Nickname, Created: now, LastUsed: now,
		LastChallenge: c.Challenge}
	if id, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil {
		rec.AAGUID = id.String()
	}
	for _, t := range cred.Transport {
		if len(rec.Transports) < 8 && len(t) <= 32 && ValidKey(string(t)) {
			rec.Transports = append(rec.Transports, string(t))
		}
	}
	return rec
}

// allowedAuthenticator applies the AAGUID allow-list: only an attested
// model on the list enrols (no attestation, or a self attestation, names
// no model worth believing).
func (e *Engine) allowedAuthenticator(cred *webauthn.Credential) error {
	list := e.cfg.Passkeys.AAGUIDs
	if len(list) == 0 {
		return nil
	}
	switch metadata.AuthenticatorAttestationType(cred.AttestationType) {
	case metadata.None, metadata.BasicSurrogate, "":
		return ErrPasskeyBlocked
	}
	id, err := uuid.FromBytes(cred.Authenticator.AAGUID)
	if err != nil || !slices.Contains(list, id.String()) {
		return ErrPasskeyBlocked
	}
	return nil
}

// removePasskey takes back a credential this enrolment stored.
func (e *Engine) removePasskey(ctx context.Context, userID, id string) error {
	return e.changePasskeys(ctx, userID, func(l *passkeyList) error {
		l.Credentials = slices.DeleteFunc(l.Credentials, func(r passkeyRecord) bool { return r.ID == id })
		return nil
	})
}

// holdsWriteScope checks that the caller holds PasskeyWriteScope now: its
// token says so, and the grant behind it is still in the store.
func (e *Engine) holdsWriteScope(ctx context.Context, s *sessionRecord, hold ScopeHold) error {
	if !hold.InToken {
		return ErrInsufficientScope
	}
	if hold.GrantID != "" {
		if !validID(prefixGrant, hold.GrantID) {
			return ErrInsufficientScope
		}
		_, err := e.cfg.Store.Get(ctx, grantKey(hold.GrantID, s.UserID, s.ID, PasskeyWriteScope))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrInsufficientScope
		case err != nil:
			return storeErr(err)
		}
		return nil
	}
	if s.Grants[PasskeyWriteScope] <= e.now().Unix() {
		return ErrInsufficientScope
	}
	return nil
}

// spendWriteScope spends the grant behind the caller's PasskeyWriteScope:
// the single-use grant is taken, a session-bound one leaves the session
// (the next refresh mints tokens without it). Of concurrent spends, one
// wins.
func (e *Engine) spendWriteScope(ctx context.Context, s *sessionRecord, hold ScopeHold) error {
	if hold.GrantID != "" {
		_, err := e.ConsumeGrant(ctx, hold.GrantID, s.UserID, s.ID, PasskeyWriteScope)
		if errors.Is(err, ErrUnauthorized) {
			return ErrInsufficientScope
		}
		return err
	}
	for attempt := 0; attempt < 4; attempt++ {
		cur, raw, err := e.liveSession(ctx, s.ID)
		if err != nil {
			return err
		}
		if cur.Grants[PasskeyWriteScope] <= e.now().Unix() {
			return ErrInsufficientScope
		}
		next := *cur
		next.Grants = liveGrants(cur.Grants, e.now())
		delete(next.Grants, PasskeyWriteScope)
		err = e.cfg.Store.Swap(ctx, sessionKey(s.ID), raw, mustJSON(next), time.Unix(cur.Expires, 0).Sub(e.now()))
		switch {
		case errors.Is(err, store.ErrConflict):
			continue
		case errors.Is(err, store.ErrNotFound):
			return ErrInsufficientScope
		}
		return storeErr(err)
	}
	return unavailable(errors.New("session keeps changing"))
}
