package stepup

import (
	"context"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
)

// otpState is the code of a login flow or of a challenge's OTP step: only
// its HMAC, its generation (attempts are counted per code, and a new code
// replaces the old one), when it ends, and how often it was sent.
type otpState struct {
	Digest   []byte `json:"digest,omitempty"`
	Gen      int    `json:"gen,omitempty"`
	Expires  int64  `json:"expires,omitempty"` // Unix ms
	Sends    int    `json:"sends,omitempty"`
	LastSend int64  `json:"last_send,omitempty"` // Unix ms
}

// digestScope binds a code to its owner (flow or challenge ID) and
// generation.
func (s *otpState) digestScope(owner string) string { return owner + ":" + itoa(s.Gen) }

// mayResend refuses a new code past the resend cap or within the cooldown.
func (s *otpState) mayResend(now time.Time, p *OTPPolicy) error {
	if s.Sends > p.MaxResends {
		return ErrRateLimited
	}
	if now.Sub(time.UnixMilli(s.LastSend)) < p.ResendCooldown {
		return ErrResendTooSoon
	}
	return nil
}

// newCode makes the state's next code for owner and returns it; only its
// HMAC is kept.
func (e *Engine) newCode(s *otpState, owner string, now time.Time) (string, error) {
	code, err := otp.NewCode(e.cfg.OTP.Digits)
	if err != nil {
		return "", unavailable(err)
	}
	s.Gen++
	s.Digest = otp.Digest(e.codeKey, s.digestScope(owner), code)
	s.Expires = now.Add(e.cfg.OTP.TTL).UnixMilli()
	s.Sends++
	s.LastSend = now.UnixMilli()
	return code, nil
}

// send sends a code; a sender that fails is unavailable (503), and
// counted.
func (e *Engine) send(ctx context.Context, m otp.Message) error {
	if err := e.cfg.Sender.Send(ctx, m); err != nil {
		e.emit(Event{Name: EventCodeSendFailed, Channel: m.Channel, Purpose: m.Purpose})
		return unavailable(err)
	}
	return nil
}
