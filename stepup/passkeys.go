package stepup

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// A user's passkeys: one record per user (usr:{id}:passkeys, in the user's
// Cluster slot) holding at most maxPasskeysPerUser credentials, changed by
// compare-and-swap. It lives as long as the user's record (Config.UserTTL)
// and is renewed with it: a credential never outlives its user for long,
// and a user who logs in with passkeys only keeps both.

// passkeyList is a user's credentials.
type passkeyList struct {
	V           int             `json:"v"`
	UserID      string          `json:"user_id"`
	Credentials []passkeyRecord `json:"credentials"`
}

// passkeyRecord is one credential (the WebAuthn credential record).
type passkeyRecord struct {
	ID        string `json:"id"`         // the credential ID, base64url
	RPID      string `json:"rp_id"`      // the relying party it is bound to
	PublicKey []byte `json:"public_key"` // COSE_Key
	SignCount uint32 `json:"sign_count"`
	// BackupEligible: a synced (or syncable) passkey whose key can leave
	// the authenticator; never changes. BackupState: backed up now.
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
	// UVInitialized: the authenticator verified its user at enrolment.
	UVInitialized     bool     `json:"uv_initialized"`
	Transports        []string `json:"transports,omitempty"`
	AAGUID            string   `json:"aaguid"`
	AttestationType   string   `json:"attestation_type"`
	AttestationFormat string   `json:"attestation_format"`
	Attachment        string   `json:"attachment,omitempty"`
	Nickname          string   `json:"nickname,omitempty"`
	Created           int64    `json:"created"`   // Unix s
	LastUsed          int64    `json:"last_used"` // Unix s
	// LastChallenge is the challenge of the ceremony that set SignCount:
	// that same assertion sent again is a retry, not a clone.
	LastChallenge string `json:"last_challenge,omitempty"`
}

// Passkey is a credential as the user sees it (GET /me/passkeys).
type Passkey struct {
	ID          string
	Nickname    string
	Transports  []string
	BackupState bool
	CreatedAt   time.Time
	LastUsedAt  time.Time
}

func (r *passkeyRecord) view() Passkey {
	return Passkey{ID: r.ID, Nickname: r.Nickname, Transports: r.Transports, BackupState: r.BackupState,
		CreatedAt: time.Unix(r.Created, 0), LastUsedAt: time.Unix(r.LastUsed, 0)}
}

// deviceBound reports a passkey whose key cannot leave its authenticator
// (not backup eligible): RFC 8176 hwk, where a syncable one is swk. The
// flag is the authenticator's own word, signed with the credential; an
// attested model (PasskeyPolicy.AAGUIDs) makes it worth more.
func (r *passkeyRecord) deviceBound() bool { return !r.BackupEligible }

// credential is the record as the library verifies assertions with it.
func (r *passkeyRecord) credential() (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(r.ID)
	if err != nil {
		return webauthn.Credential{}, err
	}
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if r.UVInitialized {
		flags |= protocol.FlagUserVerified
	}
	if r.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if r.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(r.Transports))
	for i, t := range r.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: id, PublicKey: r.PublicKey, AttestationType: r.AttestationType,
		AttestationFormat: r.AttestationFormat, Transport: transports, Flags: webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{SignCount: r.SignCount}}, nil
}

// descriptor names the credential in allowCredentials and
// excludeCredentials.
func (r *passkeyRecord) descriptor() protocol.CredentialDescriptor {
	id, _ := base64.RawURLEncoding.DecodeString(r.ID) // a record this gateway wrote
	d := protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: id}
	for _, t := range r.Transports {
		d.Transport = append(d.Transport, protocol.AuthenticatorTransport(t))
	}
	return d
}

// find returns the credential with the given ID, or nil.
func (l *passkeyList) find(id string) *passkeyRecord {
	for i := range l.Credentials {
		if l.Credentials[i].ID == id {
			return &l.Credentials[i]
		}
	}
	return nil
}

// usable are the credentials bound to the relying party in force.
func (l *passkeyList) usable(rpID string) []passkeyRecord {
	var out []passkeyRecord
	for _, c := range l.Credentials {
		if c.RPID == rpID {
			out = append(out, c)
		}
	}
	return out
}

func (l *passkeyList) clone() passkeyList {
	c := *l
	c.Credentials = append([]passkeyRecord{}, l.Credentials...)
	return c
}

// loadPasskeys reads a user's credentials; raw is nil when they hold none.
func (e *Engine) loadPasskeys(ctx context.Context, userID string) (*passkeyList, []byte, error) {
	l := passkeyList{V: recordVersion, UserID: userID}
	raw, err := e.load(ctx, userPasskeysKey(userID), &l)
	if errors.Is(err, store.ErrNotFound) {
		return &passkeyList{V: recordVersion, UserID: userID}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if l.UserID != userID {
		return nil, nil, unavailable(errors.New("a passkey record names another user"))
	}
	return &l, raw, nil
}

// errPasskeysChanged: a concurrent change won the compare-and-swap; read
// again.
var errPasskeysChanged = errors.New("passkeys changed")

// savePasskeys writes next in place of raw (nil: none stored), for the
// user's lifetime. A list emptied by deletions stays, empty: a
// compare-and-swap has no "delete if unchanged".
func (e *Engine) savePasskeys(ctx context.Context, userID string, raw []byte, next *passkeyList) error {
	key := userPasskeysKey(userID)
	var err error
	if raw == nil {
		err = e.cfg.Store.Create(ctx, key, mustJSON(next), e.cfg.UserTTL)
	} else {
		err = e.cfg.Store.Swap(ctx, key, raw, mustJSON(next), e.cfg.UserTTL)
	}
	switch {
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return errPasskeysChanged
	}
	return storeErr(err)
}

// changePasskeys applies change to the caller's credentials and stores
// the result, reading again when a concurrent change wins.
func (e *Engine) changePasskeys(ctx context.Context, userID string, change func(*passkeyList) error) error {
	for attempt := 0; attempt < 4; attempt++ {
		l, raw, err := e.loadPasskeys(ctx, userID)
		if err != nil {
			return err
		}
		next := l.clone()
		if err := change(&next); err != nil {
			return err
		}
		err = e.savePasskeys(ctx, userID, raw, &next)
		if errors.Is(err, errPasskeysChanged) {
			continue
		}
		return err
	}
	return unavailable(errors.New("passkeys keep changing"))
}

// ListPasskeys lists the caller's credentials, oldest first.
func (e *Engine) ListPasskeys(ctx context.Context, caller Caller) ([]Passkey, error) {
	if e.cfg.Passkeys == nil {
		return nil, ErrPasskeyNotConfigured
	}
	if _, _, err := e.callerSession(ctx, caller); err != nil {
		return nil, err
	}
	l, _, err := e.loadPasskeys(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(l.Credentials))
	for i := range l.Credentials {
		out = append(out, l.Credentials[i].view())
	}
	return out, nil
}

// RenamePasskey sets a credential's nickname ("" clears it). A label
// needs no step-up.
func (e *Engine) RenamePasskey(ctx context.Context, caller Caller, credentialID, nickname string) error {
	if e.cfg.Passkeys == nil {
		return ErrPasskeyNotConfigured
	}
	if !validCredentialID(credentialID) {
		return ErrPasskeyNotFound
	}
	if !validLabel(nickname, maxNicknameBytes, true) {
		return ErrBadRequest
	}
	if _, _, err := e.callerSession(ctx, caller); err != nil {
		return err
	}
	return e.changePasskeys(ctx, caller.UserID, func(l *passkeyList) error {
		c := l.find(credentialID)
		if c == nil {
			return ErrPasskeyNotFound
		}
		c.Nickname = nickname
		return nil
	})
}

// DeletePasskey removes a credential: it verifies nothing from then on,
// on every instance sharing the store.
func (e *Engine) DeletePasskey(ctx context.Context, caller Caller, credentialID string) error {
	if e.cfg.Passkeys == nil {
		return ErrPasskeyNotConfigured
	}
	if !validCredentialID(credentialID) {
		return ErrPasskeyNotFound
	}
	if _, _, err := e.callerSession(ctx, caller); err != nil {
		return err
	}
	err := e.changePasskeys(ctx, caller.UserID, func(l *passkeyList) error {
		for i := range l.Credentials {
			if l.Credentials[i].ID == credentialID {
				l.Credentials = append(l.Credentials[:i], l.Credentials[i+1:]...)
				return nil
			}
		}
		return ErrPasskeyNotFound
	})
	if err == nil {
		e.emit(Event{Name: EventPasskeyDeleted, UserID: caller.UserID, SessionID: caller.SessionID})
	}
	return err
}

// Bounds of what a client names a passkey with.
const (
	maxNicknameBytes     = 64
	maxUserNameBytes     = 256
	maxCredentialIDBytes = 1023 // WebAuthn Level 3 §5.8.3
)

// validCredentialID checks a credential ID's shape (base64url of 1 to
// 1023 bytes) before any store call.
func validCredentialID(id string) bool {
	if id == "" || len(id) > base64.RawURLEncoding.EncodedLen(maxCredentialIDBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// validLabel checks a name shown to people: valid UTF-8, no control
// characters, at most max bytes; empty only when allowed.
func validLabel(s string, max int, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, isControl)
}
