package otp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP defaults.
const (
	DefaultSMTPSubject = "Your verification code"
	DefaultSMTPTimeout = 10 * time.Second
	SMTPStartTLS       = "starttls"
	SMTPImplicitTLS    = "tls"
	SMTPNoTLS          = "none"
)

// SMTPOptions configures NewSMTPSender.
type SMTPOptions struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender address, e.g. "Example <no-reply@example.com>".
	From string
	// Username and Password enable AUTH PLAIN. Never sent without TLS except
	// to a loopback server.
	Username, Password string
	// TLS is "starttls" (default: required, not opportunistic), "tls"
	// (implicit TLS, port 465) or "none" (plain text, for local relays and
	// tests).
	TLS string
	// TLSConfig overrides the TLS settings; ServerName defaults to Addr's
	// host.
	TLSConfig *tls.Config
	// Subject of the email. Default "Your verification code".
	Subject string
	// Timeout bounds one whole delivery. Default 10s.
	Timeout time.Duration
}

// NewSMTPSender returns a sender for the email channel that submits each
// message to an SMTP server. A message for another channel is an error.
func NewSMTPSender(o SMTPOptions) (Sender, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil || host == "" {
		return nil, errors.New("otp smtp: addr must be host:port")
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, errors.New("otp smtp: from is not an email address")
	}
	s := &smtpSender{
		addr: o.Addr, host: host, from: from,
		username: o.Username, password: o.Password,
		mode: o.TLS, subject: o.Subject, timeout: o.Timeout,
	}
	switch s.mode {
	case "":
		s.mode = SMTPStartTLS
	case SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS:
	default:
		return nil, fmt.Errorf("otp smtp: tls must be %q, %q or %q", SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS)
	}
	if s.username != "" && s.mode == SMTPNoTLS && !isLoopback(host) {
		return nil, errors.New("otp smtp: refusing to send credentials without TLS to a non-loopback server")
	}
	if s.subject == "" {
		s.subject = DefaultSMTPSubject
	}
	if strings.ContainsAny(s.subject, "\r\n") {
		return nil, errors.New("otp smtp: subject must be one line")
	}
	if s.timeout <= 0 {
		s.timeout = DefaultSMTPTimeout
	}
	if o.TLSConfig != nil {
		s.tlsConfig = o.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = host
	}
	return s, nil
}

type smtpSender struct {
	addr, host         string
	from               *mail.Address
	username, password string
	mode               string
	tlsConfig          *tls.Config
	subject            string
	timeout            time.Duration
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *smtpSender) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if m.Channel != ChannelEmail {
		return errors.New("otp smtp: only the email channel can be sent by email")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return errors.New("otp smtp: destination is not an email address")
	}
	if m.ID == "" {
		m.ID = NewDeliveryID()
	}
	body := s.compose(to, m)

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	client, stop, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("otp smtp: connecting: %w", err)
	}
	defer stop()
	defer client.Close()
	return s.submit(client, to.Address, body)
}

// connect opens the connection and sets up TLS as configured. The
// connection is closed when ctx ends, which bounds every later step too;
// stop releases that hook.
func (s *smtpSender) connect(ctx context.Context) (client *smtp.Client, stop func() bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, nil, err
	}
	stop = context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*smtp.Client, func() bool, error) {
		stop()
		conn.Close()
		return nil, nil, err
	}
	switch s.mode {
	case SMTPImplicitTLS:
		tlsConn := tls.Client(conn, s.tlsConfig)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		client = smtp.NewClient(tlsConn)
	case SMTPStartTLS:
		// Fails when the server offers no STARTTLS: never falls back to
		// plain text.
		client, err = smtp.NewClientStartTLS(conn, s.tlsConfig)
		if err != nil {
			return fail(err)
		}
	default:
		client = smtp.NewClient(conn)
	}
	client.CommandTimeout = s.timeout
	client.SubmissionTimeout = s.timeout
	// EHLO now, so that the TLS handshake after STARTTLS completes (and
	// fails on an untrusted certificate) before anything else is sent.
	if err := client.Hello("localhost"); err != nil {
		client.Close()
		return fail(err)
	}
	return client, stop, nil
}

func (s *smtpSender) submit(client *smtp.Client, to string, body []byte) error {
	if s.username != "" {
		if ok := client.SupportsAuth(sasl.Plain); !ok {
			return errors.New("otp smtp: server does not offer AUTH PLAIN")
		}
		if err := client.Auth(sasl.NewPlainClient("", s.username, s.password)); err != nil {
			return fmt.Errorf("otp smtp: authenticating: %w", err)
		}
	}
	if err := client.Mail(s.from.Address, nil); err != nil {
		return fmt.Errorf("otp smtp: MAIL FROM: %w", err)
	}
	if err := client.Rcpt(to, nil); err != nil {
		return fmt.Errorf("otp smtp: RCPT TO: %w", err)
	}
	w, err := client.Data()
	if err != nil {
		return fmt.Errorf("otp smtp: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		w.Close()
		return fmt.Errorf("otp smtp: writing the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("otp smtp: message refused: %w", err)
	}
	// The message is accepted; a failed QUIT does not undo that.
	_ = client.Quit()
	return nil
}

// compose renders the message with CRLF line endings. Addresses went through
// net/mail and the subject was checked at construction, so no header can be
// injected.
func (s *smtpSender) compose(to *mail.Address, m Message) []byte {
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", s.subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.ID+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "7bit")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.WriteString("Your verification code is " + m.Code + ".\r\n\r\n")
	b.WriteString("It expires at " + m.ExpiresAt.UTC().Format("15:04 MST on 2 January 2006") + ".\r\n")
	b.WriteString("If you did not ask for it, you can ignore this email.\r\n")
	return b.Bytes()
}
