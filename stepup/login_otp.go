package stepup

import (
	"context"
	"errors"
	"slices"
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
	V     int    `json:"v"`
	Type  string `json:"type"`
	Value string `json:"value"`
	// Device is the DPoP key thumbprint of a valid device cookie the flow
	// was started with: its codes count in the identifier's known-devices
	// budget (budgets.go) and, checked with that key, its failures in the
	// device's own counter (device.go).
	Device string   `json:"device,omitempty"`
	OTP    otpState `json:"otp"`
	// Refund lists the counters the flow's codes (and a sign-up's start)
	// were counted in that completing the login gives back (budgets.go); a
	// key once per count.
	Refund []string `json:"refund,omitempty"`
	// SignUpHash is the password a sign-up sets once the code proves the
	// email address (login_password.go).
	SignUpHash string `json:"sign_up_hash,omitempty"`
}

// ClientInfo describes the client of a request.
type ClientInfo struct {
	UserAgent string
	IP        string // as Caddy determined it (trusted proxies applied)
	Device    string // the device cookie the client sent, if any
	// DeviceID is the install's ID a mobile SDK sends (X-Device-Id): the
	// client's word, kept on its session for people to read, never used
	// to decide anything.
	DeviceID string
}

// StartLogin begins an OTP login for an identifier and sends the first
// code. It returns the flow ID the client must present to check the code.
// The login is counted by its code (budgets.go): a client past its
// unproven sends costs one store round trip.
func (e *Engine) StartLogin(ctx context.Context, typ, value string, client ClientInfo) (string, error) {
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
	if full, ok := e.cfg.Store.(store.Bounded); ok && full.NearlyFull() {
		// Room left is kept for counters, markers and sessions.
		return "", ErrBusy
	}
	return e.openLoginFlow(ctx, loginFlow{V: recordVersion, Type: typ, Value: value}, client,
		counter{globalStartsKey, e.cfg.Limits.LoginStarts})
}

// openLoginFlow stores a login flow and sends its first code, past the
// identifier's lock, every send budget and the extra counters.
func (e *Engine) openLoginFlow(ctx context.Context, flow loginFlow, client ClientInfo, extra ...counter) (string, error) {
	if jkt, ok := e.deviceOf(flow.Type, flow.Value, client.Device); ok {
		flow.Device = jkt
	}
	counters, refund := e.loginSendCounters(&flow, client)
	if err := e.spend(ctx, flow.failKey(flow.Device), append(counters, extra...)); err != nil {
		return "", err
	}
	flow.Refund = append(flow.Refund, refund...)
	id := newID(prefixFlow)
	code, err := e.newCode(&flow.OTP, id, e.now())
	if err != nil {
		e.giveBack(ctx, refund)
		return "", err
	}
	// State first, then the side effect: a code is never sent that the
	// store does not know.
	if err := e.cfg.Store.Create(ctx, flowKey(id), mustJSON(flow), loginFlowTTL); err != nil {
		e.giveBack(ctx, refund)
		return "", storeErr(err)
	}
	if err := e.send(ctx, otp.Message{Channel: channelOf(flow.Type), To: flow.Value, Code: code, Purpose: otp.PurposeLogin,
		ExpiresAt: time.UnixMilli(flow.OTP.Expires)}); err != nil {
		return "", err
	}
	e.emit(Event{Name: EventLoginCodeSent, Channel: channelOf(flow.Type), ClientIP: client.IP, Method: "otp"})
	return id, nil
}

// failKey is the failure counter a check of this flow's code counts in:
// the device's own when the check comes with the device's key, else the
// one every other client of the identifier shares.
func (f *loginFlow) failKey(checkedBy string) string {
	if f.Device != "" && checkedBy == f.Device {
		return identDeviceFailKey(f.Type, f.Value, f.Device)
	}
	return identFailKey(f.Type, f.Value)
}

// RetryLogin sends a new code for a started login; the previous code stops
// working. It passes every lock and cap a first code does.
func (e *Engine) RetryLogin(ctx context.Context, flowID string, client ClientInfo) error {
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
	counters, refund := e.loginSendCounters(&flow, client)
	if err := e.spend(ctx, flow.failKey(flow.Device), counters); err != nil {
		return err
	}
	next := flow
	next.Refund = append(slices.Clone(flow.Refund), refund...)
	code, err := e.newCode(&next.OTP, flowID, now)
	if err != nil {
		e.giveBack(ctx, refund)
		return err
	}
	if err := e.cfg.Store.Swap(ctx, flowKey(flowID), raw, mustJSON(next), loginFlowTTL); err != nil {
		e.giveBack(ctx, refund)
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
// session is bound to the proof's key, and the client receives a device
// cookie for that key (Tokens.Device).
func (e *Engine) CheckLogin(ctx context.Context, flowID, code string, proof *dpop.Proof, client ClientInfo) (tokens *Tokens, err error) {
	defer func() { e.loginResult("otp", client, tokens, err) }()
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
	guess := guessCounters{account: flow.failKey(proof.Thumbprint), client: clientFailKey(clientKey(client.IP))}
	if err := e.checkGuessing(ctx, &guess); err != nil {
		return nil, err
	}
	triesKey := flowTriesKey(flowID, flow.OTP.Gen)
	if err := e.checkCode(ctx, triesKey, flowID, code, &flow.OTP, &guess); err != nil {
		return nil, err
	}
	defer func() { e.refundAttempt(ctx, triesKey, err) }()
	if err := e.markProofUsed(ctx, proof); err != nil {
		return nil, err
	}
	// Everything the login needs is written before the flow is spent, and
	// the flow is spent last: a store failure before that answers 503 and
	// leaves the flow for the client's retry (the user, a password set at
	// sign-up and a session nobody holds a token of are harmless to
	// write twice or to leave behind).
	user, err := e.userFor(ctx, Identifier{Type: flow.Type, Value: flow.Value})
	if err != nil {
		return nil, err
	}
	if flow.SignUpHash != "" {
		if err := e.setPassword(ctx, user.ID, flow.SignUpHash, false); err != nil {
			return nil, err
		}
	}
	tokens, err = e.createSession(ctx, user, proof.Thumbprint, e.loginEvent(flow.Type, e.now()), client)
	if err != nil {
		return nil, err
	}
	// The flow is used once: of concurrent right answers, one takes it.
	taken, err := e.cfg.Store.Take(ctx, flowKey(flowID))
	if err == nil && string(taken) != string(raw) {
		err = store.ErrNotFound // a resend replaced the code meanwhile
	}
	if err != nil {
		e.discardSession(ctx, tokens)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrBadCheckCode
		}
		return nil, storeErr(err)
	}
	// After a success the failure counters are reset and the client's
	// budgets given back; should the store fail here, they only stay
	// higher than they need to.
	_ = e.clearGuessing(ctx, &guess)
	e.giveBack(ctx, flow.Refund)
	tokens.Device = e.deviceCookie(flow.Type, flow.Value, proof.Thumbprint)
	tokens.proved = &Identifier{Type: flow.Type, Value: flow.Value}
	return tokens, nil
}

// refundAttempt gives back the attempt a right code counted when the
// request then failed on the store (503): only an operation that succeeded
// as a whole spends an attempt. Best effort: a store that failed may fail
// this too, and the attempt stays spent.
func (e *Engine) refundAttempt(ctx context.Context, triesKey string, err error) {
	if errors.Is(err, ErrUnavailable) {
		_ = e.cfg.Store.Decr(ctx, triesKey)
	}
}

// guessCounters are the consecutive-failure counters a code check counts
// in, and what they held before it.
type guessCounters struct {
	// account: the identifier's (for clients without a device of theirs),
	// a device's, or a user's (step-up codes): at MaxUserFailures it
	// refuses every check and send, for OTPFailureMemory (NIST SP 800-63B
	// §5.2.2: at most 100 consecutive failures per account).
	account string
	// client: the client IP's, across every identifier: past freeFailures
	// each check waits longer. Delays fall on the guessing client only.
	client                  string
	accountSeen, clientSeen int
}

// checkGuessing refuses a check when the account is locked or the client
// must still wait.
func (e *Engine) checkGuessing(ctx context.Context, g *guessCounters) error {
	var err error
	if g.accountSeen, err = e.checkLock(ctx, g.account); err != nil {
		return err
	}
	g.clientSeen, err = e.checkDelay(ctx, g.client)
	return err
}

// checkCode counts the attempt, then compares in constant time. A wrong
// code counts as a failure of the account and of the client.
func (e *Engine) checkCode(ctx context.Context, triesKey, owner, code string, st *otpState, g *guessCounters) error {
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
	if otp.Match(e.codeKey, st.digestScope(owner), code, st.Digest) {
		return nil
	}
	if _, err := e.cfg.Store.Incr(ctx, g.account, failureMemory); err != nil {
		return storeErr(err)
	}
	n, err := e.cfg.Store.Incr(ctx, g.client, failureMemory)
	if err != nil {
		return storeErr(err)
	}
	if delay := failureDelay(n); delay > 0 {
		if err := e.cfg.Store.Set(ctx, failWaitKey(g.client), []byte("1"), delay); err != nil {
			return storeErr(err)
		}
	}
	return ErrBadCheckCode
}

// Consecutive failures: per client, the first freeFailures cost nothing
// beyond the per-code attempt limit, then each check waits twice as long
// (1 s, 2 s, 4 s, ... at most maxFailureDelay). Per account, at
// MaxUserFailures every check and send is refused until the counter, kept
// failureMemory after its first failure, expires. Only a success resets a
// counter, never a resend.
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

// clearGuessing forgets the failures of both counters after a success;
// a counter that held none costs no store call.
func (e *Engine) clearGuessing(ctx context.Context, g *guessCounters) error {
	if g.accountSeen > 0 {
		if err := e.cfg.Store.Delete(ctx, g.account); err != nil {
			return storeErr(err)
		}
	}
	if g.clientSeen > 0 {
		return storeErr(e.cfg.Store.Delete(ctx, g.client, failWaitKey(g.client)))
	}
	return nil
}

// checkLock refuses when an account counter reached MaxUserFailures, and
// returns what it holds.
func (e *Engine) checkLock(ctx context.Context, failKey string) (int, error) {
	n, err := e.counter(ctx, failKey)
	if err != nil {
		return 0, err
	}
	if n >= e.cfg.OTP.MaxUserFailures {
		return n, ErrRateLimited
	}
	return n, nil
}

// checkDelay refuses while a client counter's wait runs, and returns what
// the counter holds.
func (e *Engine) checkDelay(ctx context.Context, failKey string) (int, error) {
	n, err := e.counter(ctx, failKey)
	if err != nil || n < freeFailures {
		return n, err
	}
	_, err = e.cfg.Store.Get(ctx, failWaitKey(failKey))
	switch {
	case err == nil:
		return n, ErrRateLimited
	case errors.Is(err, store.ErrNotFound):
		return n, nil
	}
	return n, storeErr(err)
}

// counter reads a counter; an absent one holds 0.
func (e *Engine) counter(ctx context.Context, key string) (int, error) {
	raw, err := e.cfg.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, storeErr(err)
	}
	return atoi(string(raw)), nil
}

func (e *Engine) send(ctx context.Context, m otp.Message) error {
	if err := e.cfg.Sender.Send(ctx, m); err != nil {
		e.emit(Event{Name: EventCodeSendFailed, Channel: m.Channel, Purpose: m.Purpose})
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

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
