package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// loginFlowTTL is how long a started login can be completed, resends
// included; each code lives OTPPolicy.TTL within it.
const loginFlowTTL = 15 * time.Minute

// loginFlow is a started OTP login, keyed by an unguessable flow ID that
// the client holds in a cookie (or the X-Verification-Token header).
type loginFlow struct {
	V     int      `json:"v"`
	Type  string   `json:"type"`
	Value string   `json:"value"`
	OTP   otpState `json:"otp"`
}

// ClientInfo describes the client of a request, for the session list.
type ClientInfo struct {
	UserAgent string
	IP        string
}

// StartLogin begins an OTP login for an identifier and sends the first
// code. It returns the flow ID the client must present to check the code.
func (e *Engine) StartLogin(ctx context.Context, typ, value string) (string, error) {
	if e.cfg.Sender == nil || len(e.cfg.LoginIdentifiers) == 0 {
		return "", ErrNotConfigured
	}
	if !containsString(e.cfg.LoginIdentifiers, typ) {
		return "", ErrInvalidIdentifier
	}
	value, ok := normalizeIdentifier(typ, value)
	if !ok {
		return "", ErrInvalidIdentifier
	}
	if _, err := e.checkFailures(ctx, identFailKey(typ, value)); err != nil {
		return "", err
	}
	if err := e.countSend(ctx, value); err != nil {
		return "", err
	}
	id := newID(prefixFlow)
	flow := loginFlow{V: recordVersion, Type: typ, Value: value}
	code, err := e.newCode(&flow.OTP, id, e.now())
	if err != nil {
		return "", err
	}
	// State first, then the side effect: a code is never sent that the
	// store does not know.
	if err := e.cfg.Store.Create(ctx, flowKey(id), mustJSON(flow), loginFlowTTL); err != nil {
		return "", storeErr(err)
	}
	if err := e.send(ctx, otp.Message{Channel: channelOf(typ), To: value, Code: code, Purpose: otp.PurposeLogin,
		ExpiresAt: time.UnixMilli(flow.OTP.Expires)}); err != nil {
		return "", err
	}
	return id, nil
}

// RetryLogin sends a new code for a started login; the previous code stops
// working.
func (e *Engine) RetryLogin(ctx context.Context, flowID string) error {
	if e.cfg.Sender == nil {
		return ErrNotConfigured
	}
	if !validID(prefixFlow, flowID) {
		return ErrNoLoginFlow
	}
	var flow loginFlow
	raw, err := e.load(ctx, flowKey(flowID), &flow)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoLoginFlow
		}
		return err
	}
	now := e.now()
	if err := flow.OTP.mayResend(now, &e.cfg.OTP); err != nil {
		return err
	}
	if err := e.countSend(ctx, flow.Value); err != nil {
		return err
	}
	next := flow
	code, err := e.newCode(&next.OTP, flowID, now)
	if err != nil {
		return err
	}
	if err := e.cfg.Store.Swap(ctx, flowKey(flowID), raw, mustJSON(next), loginFlowTTL); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ErrRateLimited // a concurrent resend won
		}
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoLoginFlow
		}
		return storeErr(err)
	}
	return e.send(ctx, otp.Message{Channel: channelOf(flow.Type), To: flow.Value, Code: code, Purpose: otp.PurposeLogin,
		ExpiresAt: time.UnixMilli(next.OTP.Expires)})
}

// CheckLogin completes a login with the code and a DPoP proof; the new
// session is bound to the proof's key.
func (e *Engine) CheckLogin(ctx context.Context, flowID, code string, proof *dpop.Proof, client ClientInfo) (*Tokens, error) {
	if proof == nil {
		return nil, ErrMissingDPoP
	}
	if !validID(prefixFlow, flowID) || len(code) > 16 {
		return nil, ErrNoLoginFlow
	}
	var flow loginFlow
	raw, err := e.load(ctx, flowKey(flowID), &flow)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoLoginFlow
		}
		return nil, err
	}
	failKey := identFailKey(flow.Type, flow.Value)
	failures, err := e.checkFailures(ctx, failKey)
	if err != nil {
		return nil, err
	}
	if err := e.checkCode(ctx, flowTriesKey(flowID, flow.OTP.Gen), flowID, code, &flow.OTP, failKey); err != nil {
		return nil, err
	}
	if err := e.markProofUsed(ctx, proof); err != nil {
		return nil, err
	}
	// The flow is used once: of concurrent right answers, one takes it.
	taken, err := e.cfg.Store.Take(ctx, flowKey(flowID))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrBadCheckCode
		}
		return nil, storeErr(err)
	}
	if string(taken) != string(raw) {
		return nil, ErrBadCheckCode // a resend replaced the code meanwhile
	}
	if err := e.clearFailures(ctx, failKey, failures); err != nil {
		return nil, err
	}
	user, err := e.userFor(ctx, Identifier{Type: flow.Type, Value: flow.Value})
	if err != nil {
		return nil, err
	}
	return e.createSession(ctx, user, proof.Thumbprint, client)
}

// checkCode counts the attempt, then compares in constant time. A wrong
// code counts as a failure of the identifier (or user) behind failKey.
func (e *Engine) checkCode(ctx context.Context, triesKey, owner, code string, st *otpState, failKey string) error {
	if st.Digest == nil || e.now().UnixMilli() > st.Expires {
		return ErrBadCheckCode
	}
	// Counted before the comparison, atomically: N parallel guesses can't
	// all be evaluated.
	tries, err := e.cfg.Store.Incr(ctx, triesKey, e.cfg.OTP.TTL+time.Minute)
	if err != nil {
		return storeErr(err)
	}
	if tries > int64(e.cfg.OTP.MaxAttempts) {
		return ErrBadCheckCode
	}
	if !otp.Match(e.codeKey, st.digestScope(owner), code, st.Digest) {
		n, err := e.cfg.Store.Incr(ctx, failKey, failureMemory)
		if err != nil {
			return storeErr(err)
		}
		if delay := failureDelay(n); delay > 0 {
			if err := e.cfg.Store.Set(ctx, failWaitKey(failKey), []byte("1"), delay); err != nil {
				return storeErr(err)
			}
		}
		return ErrBadCheckCode
	}
	return nil
}

// Consecutive failures per identifier (or user), counted across codes and
// resends: the first freeFailures cost nothing beyond the per-code attempt
// limit; each later one makes the next check wait twice as long (1 s, 2 s,
// 4 s, ... at most maxFailureDelay). At MaxUserFailures every check and
// send is refused until the counter, kept failureMemory after its first
// failure, expires; only a success resets it.
const (
	freeFailures    = 10
	maxFailureDelay = 15 * time.Minute
	failureMemory   = 24 * time.Hour
)

func failureDelay(n int64) time.Duration {
	if n < freeFailures {
		return 0
	}
	shift := n - freeFailures
	if shift > 10 {
		return maxFailureDelay
	}
	return min(time.Duration(1<<shift)*time.Second, maxFailureDelay)
}

func failWaitKey(failKey string) string { return failKey + ":wait" }

// clearFailures forgets the failures behind failKey after a success;
// seen is what checkFailures counted (none: nothing to forget, no store
// call).
func (e *Engine) clearFailures(ctx context.Context, failKey string, seen int) error {
	if seen == 0 {
		return nil
	}
	return storeErr(e.cfg.Store.Delete(ctx, failKey, failWaitKey(failKey)))
}

// checkFailures refuses when too many consecutive codes failed, and
// returns how many did; only a success resets the counter, never a resend.
func (e *Engine) checkFailures(ctx context.Context, failKey string) (int, error) {
	raw, err := e.cfg.Store.Get(ctx, failKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, storeErr(err)
	}
	n := atoi(string(raw))
	if n >= e.cfg.OTP.MaxUserFailures {
		return n, ErrRateLimited
	}
	if n >= freeFailures {
		_, err := e.cfg.Store.Get(ctx, failWaitKey(failKey))
		if err == nil {
			return n, ErrRateLimited
		}
		if !errors.Is(err, store.ErrNotFound) {
			return n, storeErr(err)
		}
	}
	return n, nil
}

// countSend caps the codes sent to one destination per hour, so the
// gateway can't be used to pump SMS or email.
func (e *Engine) countSend(ctx context.Context, destination string) error {
	n, err := e.cfg.Store.Incr(ctx, sendsKey(destination), time.Hour)
	if err != nil {
		return storeErr(err)
	}
	if n > int64(e.cfg.OTP.MaxPerHour) {
		return ErrRateLimited
	}
	return nil
}

func (e *Engine) send(ctx context.Context, m otp.Message) error {
	if err := e.cfg.Sender.Send(ctx, m); err != nil {
		return unavailable(err)
	}
	return nil
}

// markProofUsed refuses a DPoP proof whose jti was seen before (within the
// window in which its iat is acceptable).
func (e *Engine) markProofUsed(ctx context.Context, proof *dpop.Proof) error {
	err := e.cfg.Store.Create(ctx, proofJTIKey(proof.Thumbprint, proof.ID), []byte("1"), 2*time.Minute)
	if errors.Is(err, store.ErrExists) {
		return ErrInvalidDPoP
	}
	return storeErr(err)
}

// userRecord is a user, created at their first successful login.
type userRecord struct {
	V           int          `json:"v"`
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers"`
	Created     int64        `json:"created"`
}

// userFor finds the user who owns a verified identifier, creating them on
// first login. Of two concurrent first logins, both end with the same user.
func (e *Engine) userFor(ctx context.Context, ident Identifier) (*userRecord, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var userID string
		_, err := e.load(ctx, identKey(ident.Type, ident.Value), &userID)
		if err == nil {
			var u userRecord
			if _, err := e.load(ctx, userKey(userID), &u); err == nil {
				if err := e.touchUser(ctx, &u, ident); err != nil {
					return nil, err
				}
				return &u, nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			// The index outlived the user: start over with a new user.
			if err := e.cfg.Store.Delete(ctx, identKey(ident.Type, ident.Value)); err != nil {
				return nil, storeErr(err)
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		u := &userRecord{V: recordVersion, ID: newID(prefixUser), Identifiers: []Identifier{ident}, Created: e.now().Unix()}
		err = e.cfg.Store.Create(ctx, identKey(ident.Type, ident.Value), mustJSON(u.ID), e.cfg.UserTTL)
		if errors.Is(err, store.ErrExists) {
			continue // a concurrent login created the user: read it
		}
		if err != nil {
			return nil, storeErr(err)
		}
		if err := e.cfg.Store.Set(ctx, userKey(u.ID), mustJSON(u), e.cfg.UserTTL); err != nil {
			return nil, storeErr(err)
		}
		return u, nil
	}
	return nil, unavailable(errors.New("user record keeps changing"))
}

// touchUser extends the user's records after a login.
func (e *Engine) touchUser(ctx context.Context, u *userRecord, ident Identifier) error {
	if err := e.cfg.Store.Set(ctx, identKey(ident.Type, ident.Value), mustJSON(u.ID), e.cfg.UserTTL); err != nil {
		return storeErr(err)
	}
	return storeErr(e.cfg.Store.Set(ctx, userKey(u.ID), mustJSON(u), e.cfg.UserTTL))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
