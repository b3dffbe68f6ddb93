package otp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// mailbox is a real SMTP server (go-smtp) on a loopback port.
type mailbox struct {
	addr string

	mu       sync.Mutex
	messages []delivered
}

type delivered struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

type mailboxOptions struct {
	tlsConfig   *tls.Config // offered through STARTTLS
	implicitTLS bool
	user, pass  string // AUTH PLAIN required when set
}

func startMailbox(t *testing.T, o mailboxOptions) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{mb: mb, conn: c, o: o}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS {
		l = tls.NewListener(l, o.tlsConfig)
	} else {
		srv.TLSConfig = o.tlsConfig
	}
	mb.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mb
}

func (mb *mailbox) all() []delivered {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]delivered(nil), mb.messages...)
}

type mailSession struct {
	mb       *mailbox
	conn     *smtp.Conn
	o        mailboxOptions
	user     string
	from, to string
}

var errAuthRequired = errors.New("auth required")

func (s *mailSession) AuthMechanisms() []string {
	if s.o.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.o.user || pass != s.o.pass {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.user != "" && s.user == "" {
		return errAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.mb.mu.Lock()
	s.mb.messages = append(s.mb.messages, delivered{from: s.from, to: s.to, data: data, tls: isTLS, user: s.user})
	s.mb.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func emailMessage() Message {
	return Message{Channel: ChannelEmail, To: "Alice <alice@example.com>", Code: "482913", Purpose: PurposeStepUp,
		ExpiresAt: time.Now().Add(5 * time.Minute), ChallengeID: "ch_1", Scope: "transfer:write"}
}

func TestSMTPSender(t *testing.T) {
	cert, pool := selfSigned(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	_, otherPool := selfSigned(t)

	tests := []struct {
		name    string
		server  mailboxOptions
		opts    SMTPOptions
		msg     Message
		wantErr bool
		wantTLS bool
		user    string
	}{
		{name: "plain for loopback", opts: SMTPOptions{TLS: SMTPNoTLS}, msg: emailMessage()},
		{name: "starttls", server: mailboxOptions{tlsConfig: serverTLS}, opts: SMTPOptions{TLSConfig: &tls.Config{RootCAs: pool}}, msg: emailMessage(), wantTLS: true},
		{name: "implicit tls", server: mailboxOptions{tlsConfig: serverTLS, implicitTLS: true}, opts: SMTPOptions{TLS: SMTPImplicitTLS, TLSConfig: &tls.Config{RootCAs: pool}}, msg: emailMessage(), wantTLS: true},
		{
			name:   "auth plain over starttls",
			server: mailboxOptions{tlsConfig: serverTLS, user: "gateway", pass: "s3cret"},
			opts:   SMTPOptions{TLSConfig: &tls.Config{RootCAs: pool}, Username: "gateway", Password: "s3cret"},
			msg:    emailMessage(), wantTLS: true, user: "gateway",
		},
		{
			name:   "auth plain on loopback without tls",
			server: mailboxOptions{user: "gateway", pass: "s3cret"},
			opts:   SMTPOptions{TLS: SMTPNoTLS, Username: "gateway", Password: "s3cret"},
			msg:    emailMessage(), user: "gateway",
		},
		{
			name:   "wrong password",
			server: mailboxOptions{tlsConfig: serverTLS, user: "gateway", pass: "s3cret"},
			opts:   SMTPOptions{TLSConfig: &tls.Config{RootCAs: pool}, Username: "gateway", Password: "guess"},
			msg:    emailMessage(), wantErr: true,
		},
		{name: "untrusted certificate", server: mailboxOptions{tlsConfig: serverTLS}, opts: SMTPOptions{TLSConfig: &tls.Config{RootCAs: otherPool}}, msg: emailMessage(), wantErr: true},
		{name: "starttls required but not offered", opts: SMTPOptions{TLSConfig: &tls.Config{RootCAs: pool}}, msg: emailMessage(), wantErr: true},
		{name: "sms channel refused", opts: SMTPOptions{TLS: SMTPNoTLS}, msg: func() Message { m := emailMessage(); m.Channel = ChannelSMS; return m }(), wantErr: true},
		{name: "header injection in destination refused", opts: SMTPOptions{TLS: SMTPNoTLS}, msg: func() Message { m := emailMessage(); m.To = "a@example.com\r\nBcc: b@example.com"; return m }(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := startMailbox(t, tt.server)
			o := tt.opts
			o.Addr = mb.addr
			o.From = "Example <no-reply@example.com>"
			o.Subject = "Your code"
			sender, err := NewSMTPSender(o)
			if err != nil {
				t.Fatal(err)
			}
			err = sender.Send(context.Background(), tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error = %v, wantErr %v", err, tt.wantErr)
			}
			got := mb.all()
			if tt.wantErr {
				t.Logf("refused: %v", err)
				if err != nil && strings.Contains(err.Error(), tt.msg.Code) {
					t.Fatalf("error reveals the code: %v", err)
				}
				if len(got) != 0 {
					t.Fatalf("%d messages delivered despite the error", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d messages delivered, want 1", len(got))
			}
			d := got[0]
			if d.from != "no-reply@example.com" || d.to != "alice@example.com" {
				t.Errorf("envelope %q -> %q", d.from, d.to)
			}
			if d.tls != tt.wantTLS || d.user != tt.user {
				t.Errorf("tls %v user %q, want %v %q", d.tls, d.user, tt.wantTLS, tt.user)
			}
			parsed, err := mail.ReadMessage(bytes.NewReader(d.data))
			if err != nil {
				t.Fatal(err)
			}
			from, _ := parsed.Header.AddressList("From")
			to, _ := parsed.Header.AddressList("To")
			if len(from) != 1 || from[0].Address != "no-reply@example.com" || len(to) != 1 || to[0].Address != "alice@example.com" {
				t.Errorf("headers From %v To %v", from, to)
			}
			if s := parsed.Header.Get("Subject"); s != "Your code" {
				t.Errorf("Subject %q", s)
			}
			body, _ := io.ReadAll(parsed.Body)
			if !strings.Contains(string(body), tt.msg.Code) {
				t.Errorf("body does not contain the code: %q", body)
			}
		})
	}
}

func TestNewSMTPSenderOptions(t *testing.T) {
	tests := []struct {
		name string
		o    SMTPOptions
	}{
		{"no port", SMTPOptions{Addr: "mail.example.com", From: "a@example.com"}},
		{"bad from", SMTPOptions{Addr: "mail.example.com:587", From: "not an address"}},
		{"unknown tls mode", SMTPOptions{Addr: "mail.example.com:587", From: "a@example.com", TLS: "maybe"}},
		{"credentials in clear to a remote server", SMTPOptions{Addr: "mail.example.com:25", From: "a@example.com", TLS: SMTPNoTLS, Username: "u", Password: "p"}},
		{"multi-line subject", SMTPOptions{Addr: "mail.example.com:587", From: "a@example.com", Subject: "a\r\nBcc: x@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewSMTPSender(tt.o); err == nil || s != nil {
				t.Fatalf("NewSMTPSender = %v, %v; want error", s, err)
			}
		})
	}
}

func TestSMTPSenderTimeout(t *testing.T) {
	// A server that accepts the connection and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	sender, err := NewSMTPSender(SMTPOptions{Addr: l.Addr().String(), From: "a@example.com", TLS: SMTPNoTLS, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), emailMessage()); err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
}
