package stepup

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// OTP login (the SDK's startOTPLogin, retryOTP and checkOTP): a flow per
// started login, its codes counted in the budgets (budgets.go), its check
// in login_check.go, bounded as every code's (guessing.go).

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

// StartLogin begins an OTP login for an identifier and sends the first
// code. It returns the flow ID the client must present to check the code.
// The login is counted by its code (budgets.go): a client past its
// unproven sends costs one store round trip.
func (e *Engine) StartLogin(ctx context.Context, typ, value string, client ClientInfo) (string, error) {
	if e.cfg.Sender == nil || len(e.cfg.LoginIdentifiers) == 0 {
		return "", ErrNotConfigured
	}
	if !slices.Contains(e.cfg.LoginIdentifiers, typ) {
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
