package stepup

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"
)

// maxAssertionBytes bounds an assertion's JSON before it is parsed (the
// session API's body limit is larger).
const maxAssertionBytes = 16 << 10

// verifyAssertion checks an assertion (AuthenticationResponseJSON) against
// a step's or a login's ceremony, with the library: the challenge, the
// origin (one of the allowed ones), the rp ID hash, user presence, user
// verification when required, the signature with the stored public key,
// and a sign count that moved forward. It then stores the credential's
// new count, backup state and time of use.
//
// A count that did not move forward (other than an authenticator that
// keeps none, whose count stays 0) means two copies of the key may exist:
// the assertion is refused and the event audited. The same assertion sent
// again for the same ceremony (a retry whose answer was lost) is not a
// clone: the credential remembers the ceremony its count came from.
func (e *Engine) verifyAssertion(ctx context.Context, c *passkeyCeremony, assertion []byte, refusal error, ev Event) (*passkeyUse, string, error) {
	if len(assertion) == 0 || len(assertion) > maxAssertionBytes {
		return nil, "", refusal
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(assertion)
	if err != nil {
		e.debug("passkey assertion unreadable", err)
		return nil, "", refusal
	}
	userID := c.UserID
	if c.Kind == ceremonyLogin {
		// A discoverable credential names its user: the handle written at
		// enrolment, the gateway's user ID.
		userID = string(parsed.Response.UserHandle)
		if !validID(prefixUser, userID) {
			return nil, "", refusal
		}
	}
	credID := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	for attempt := 0; attempt < 4; attempt++ {
		l, raw, err := e.loadPasskeys(ctx, userID)
		if err != nil {
			return nil, "", err
		}
		stored := l.find(credID)
		if stored == nil || stored.RPID != c.RPID {
			return nil, "", refusal // unknown, deleted, or of another relying party
		}
		cred, err := e.validateAssertion(c, userID, l, parsed)
		if err != nil {
			e.debug("passkey assertion refused", err)
			return nil, "", refusal
		}
		use := &passkeyUse{verified: parsed.Response.AuthenticatorData.Flags.HasUserVerified()}
		if cred.Authenticator.CloneWarning {
			if stored.LastChallenge == c.Challenge && stored.SignCount == parsed.Response.AuthenticatorData.Counter {
				use.record = *stored // this very assertion, counted already
				return use, userID, nil
			}
			ev.Name, ev.Reason, ev.UserID = EventPasskeyCloneSuspected, "sign_count", userID
			e.emit(ev)
			e.log.Warn("passkey refused: its sign count did not move forward (a copy of the key may exist)",
				zap.String("user", userID), zap.Uint32("stored", stored.SignCount),
				zap.Uint32("presented", parsed.Response.AuthenticatorData.Counter))
			return nil, "", ErrPasskeyBlocked
		}
		next := l.clone()
		r := next.find(credID)
		r.SignCount, r.BackupState, r.LastUsed, r.LastChallenge = cred.Authenticator.SignCount, cred.Flags.BackupState, e.now().Unix(), c.Challenge
		err = e.savePasskeys(ctx, userID, raw, &next)
		if errors.Is(err, errPasskeysChanged) {
			continue // verified again against what the concurrent change wrote
		}
		if err != nil {
			return nil, "", err
		}
		use.record = *r
		return use, userID, nil
	}
	return nil, "", unavailable(errors.New("passkeys keep changing"))
}

// validateAssertion runs the library's verification. The credentials
// allowed are those of the ceremony the user still holds: a credential
// deleted since the ceremony began verifies nothing.
func (e *Engine) validateAssertion(c *passkeyCeremony, userID string, l *passkeyList, parsed *protocol.ParsedCredentialAssertionData) (*webauthn.Credential, error) {
	usable := l.usable(c.RPID)
	sd := c.session()
	if c.Kind != ceremonyLogin {
		sd.AllowedCredentialIDs = sd.AllowedCredentialIDs[:0]
		for _, id := range c.Allowed {
			if rec := l.find(id); rec != nil && rec.RPID == c.RPID {
				raw, _ := base64.RawURLEncoding.DecodeString(id)
				sd.AllowedCredentialIDs = append(sd.AllowedCredentialIDs, raw)
			}
		}
		if len(sd.AllowedCredentialIDs) == 0 {
			return nil, errors.New("no credential of the ceremony is left")
		}
	}
	user, err := e.newPasskeyUser(userID, usable)
	if err != nil {
		return nil, err
	}
	if c.Kind == ceremonyLogin {
		_, cred, err := e.rp.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return user, nil }, sd, parsed)
		return cred, err
	}
	return e.rp.ValidateLogin(user, sd, parsed)
}

func (e *Engine) debug(msg string, err error) {
	if ce := e.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.Error(err))
	}
}

// passkeyACRFor is the acr a passkey use earns by itself: the hardware
// one for a device-bound key when set, else the passkey one; "" when
// neither is set.
func (e *Engine) passkeyACRFor(level string) string {
	p := e.cfg.Passkeys
	if level == "hwk" && p.HardwareACR != "" {
		return p.HardwareACR
	}
	return p.ACR
}

// earnsPasskeyACR reports whether an event with passkey level (hwk, swk or
// "" for none) may claim candidate: an acr only a passkey earns needs a
// passkey, and the hardware one a device-bound passkey.
func (cfg *Config) earnsPasskeyACR(candidate, level string) bool {
	if !cfg.isPasskeyACR(candidate) {
		return true
	}
	if level == "" {
		return false
	}
	return candidate != cfg.Passkeys.HardwareACR || level == "hwk"
}

// passkeyStepKeys are the step keys a passkey proves.
var passkeyStepKeys = []string{StepVerifyPasskey}

func hasPasskeyStep(steps []Step) bool {
	return slices.ContainsFunc(steps, func(s Step) bool { return slices.Contains(passkeyStepKeys, s.Key) })
}
