package caddystepup

import (
	"fmt"
	"time"

	"github.com/caddy-stepup/caddy-stepup/jwks"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
)

// newSender builds the configured sender (at Start: placeholders are
// resolved).
func (a *App) newSender(signer *jwks.Signer) (otp.Sender, error) {
	if a.OTP == nil || a.OTP.Sender == nil {
		return nil, nil
	}
	c := a.OTP.Sender
	switch c.Kind {
	case "log":
		a.logger.Warn("otp sender `log` writes every code to the log: use it for development only")
		return otp.NewLogSender(a.logger.Named("otp")), nil
	case "webhook":
		return otp.NewWebhookSender(otp.WebhookOptions{
			URL:     c.URL,
			Secret:  []byte(c.Secret),
			Signer:  signer,
			Timeout: time.Duration(c.Timeout),
		})
	case "smtp":
		return otp.NewSMTPSender(otp.SMTPOptions{
			Addr:     c.Addr,
			From:     c.From,
			Username: c.Username,
			Password: c.Password,
			TLS:      c.TLS,
			Subject:  c.Subject,
			Timeout:  time.Duration(c.Timeout),
		})
	}
	return nil, fmt.Errorf("otp sender: unknown kind %q (want log, webhook or smtp)", c.Kind)
}
