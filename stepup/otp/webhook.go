package otp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook defaults.
const (
	DefaultWebhookTimeout       = 5 * time.Second
	DefaultWebhookRetries       = 2
	DefaultMaxResponseBytes     = 64 << 10
	defaultWebhookRetryBackoff  = 100 * time.Millisecond
	webhookUserAgent            = "caddy-stepup"
	headerSignature             = "X-Webhook-Signature"
	headerSignatureKeyID        = "X-Webhook-Signature-Key-Id"
	headerSharedSecretSignature = "X-Stepup-Signature"
)

// Signer signs webhook bodies with the gateway's key.
type Signer interface {
	// SignDetached returns the base64url ES256 signature (raw r||s) of payload.
	SignDetached(payload []byte) (string, error)
	// KeyID is the kid under which the gateway's JWKS publishes the key.
	KeyID() string
}

// WebhookOptions configures NewWebhookSender.
type WebhookOptions struct {
	// URL receives the POST; http or https.
	URL string
	// Secret, when set, adds X-Stepup-Signature: t=<unix>,v1=<hex
	// HMAC-SHA256(Secret, t + "." + body)>.
	Secret []byte
	// Signer signs every body (X-Webhook-Signature); required.
	Signer Signer
	// Timeout bounds each attempt. Default 5s.
	Timeout time.Duration
	// Retries is how many more attempts are made when a connection could
	// not even be opened. Default 2; negative means none.
	Retries int
	// Client is used instead of the sender's own. Redirects are never
	// followed, whatever the client says: a redirect must not carry a code
	// elsewhere.
	Client *http.Client
	// MaxResponseBytes caps how much of a response body is read (and
	// discarded). Default 64 KiB.
	MaxResponseBytes int64
}

// NewWebhookSender returns a sender that POSTs each message as JSON
// {"channel","to","code","purpose","expires_at"(Unix seconds),
// "challenge_id"?,"scope"?} with Content-Type, User-Agent, the signature
// headers and X-Stepup-Delivery-Id (the message ID). A 2xx answer is success,
// anything else an error.
//
// Its own client does not keep connections alive, so that net/http never
// silently resends a request on a reused connection; with a caller-supplied
// Client that client's transport decides.
func NewWebhookSender(o WebhookOptions) (Sender, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("otp webhook: url must be an absolute http or https URL")
	}
	if o.Signer == nil {
		return nil, errors.New("otp webhook: a signer is required")
	}
	s := &webhookSender{
		url:     o.URL,
		secret:  append([]byte(nil), o.Secret...),
		signer:  o.Signer,
		timeout: o.Timeout,
		retries: o.Retries,
		maxBody: o.MaxResponseBytes,
		backoff: defaultWebhookRetryBackoff,
		now:     time.Now,
		dialer:  &net.Dialer{},
	}
	if s.timeout <= 0 {
		s.timeout = DefaultWebhookTimeout
	}
	if s.retries == 0 {
		s.retries = DefaultWebhookRetries
	} else if s.retries < 0 {
		s.retries = 0
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxResponseBytes
	}
	var client http.Client
	if o.Client != nil {
		client = *o.Client
	} else {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		// Connections are kept alive. net/http re-sends a POST by itself only
		// when nothing of it was written, because the delivery ID header is
		// not named Idempotency-Key (which would make net/http treat the POST
		// as safe to replay): a code is never delivered twice.
		transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dial(ctx, network, addr)
		}
		client.Transport = transport
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &client
	return s, nil
}

type webhookSender struct {
	url     string
	secret  []byte
	signer  Signer
	timeout time.Duration
	retries int
	maxBody int64
	backoff time.Duration
	client  *http.Client
	now     func() time.Time
	// dialer opens connections for the sender's own transport; tests
	// replace dial to make the first attempts fail.
	dialer   *net.Dialer
	dialHook func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (s *webhookSender) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.dialHook != nil {
		return s.dialHook(ctx, network, addr)
	}
	return s.dialer.DialContext(ctx, network, addr)
}

// webhookBody is the JSON sent to the receiver, members in this order.
type webhookBody struct {
	Channel     string `json:"channel"`
	To          string `json:"to"`
	Code        string `json:"code"`
	Purpose     string `json:"purpose"`
	ExpiresAt   int64  `json:"expires_at"`
	ChallengeID string `json:"challenge_id,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

func (s *webhookSender) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if m.ID == "" {
		m.ID = NewDeliveryID()
	}
	body, err := json.Marshal(webhookBody{
		Channel: m.Channel, To: m.To, Code: m.Code, Purpose: m.Purpose,
		ExpiresAt: m.ExpiresAt.Unix(), ChallengeID: m.ChallengeID, Scope: m.Scope,
	})
	if err != nil {
		return errors.New("otp webhook: encoding the body failed")
	}
	header, err := s.headers(body, m.ID)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.post(ctx, body, header)
		if err == nil {
			return nil
		}
		if attempt >= s.retries || !neverReachedReceiver(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.backoff * time.Duration(attempt+1)):
		}
	}
}

// headers builds the request headers once, so every attempt sends the same
// bytes and the same X-Stepup-Delivery-Id.
func (s *webhookSender) headers(body []byte, deliveryID string) (http.Header, error) {
	sig, err := s.signer.SignDetached(body)
	if err != nil {
		return nil, fmt.Errorf("otp webhook: signing the body failed: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", webhookUserAgent)
	h.Set(headerSignature, sig)
	h.Set(headerSignatureKeyID, s.signer.KeyID())
	h.Set("X-Stepup-Delivery-Id", deliveryID)
	if len(s.secret) > 0 {
		t := strconv.FormatInt(s.now().Unix(), 10)
		mac := hmac.New(sha256.New, s.secret)
		mac.Write([]byte(t + "."))
		mac.Write(body)
		h.Set(headerSharedSecretSignature, "t="+t+",v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return h, nil
}

// post makes one attempt. Errors never include the URL (it may carry a
// token) or the body.
func (s *webhookSender) post(ctx context.Context, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("otp webhook: building the request failed")
	}
	req.Header = header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &deliveryError{err: err}
	}
	// Drain (capped) so the receiver's answer is consumed, never logged.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, s.maxBody))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("otp webhook: receiver answered status %d", resp.StatusCode)
	}
	return nil
}

// deliveryError is a transport failure (no response).
type deliveryError struct{ err error }

func (e *deliveryError) Error() string { return "otp webhook: delivery failed: " + e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// neverReachedReceiver reports whether err proves that no byte of the request
// left: the connection could not be opened. A timeout is never such proof.
func neverReachedReceiver(err error) bool {
	var de *deliveryError
	if !errors.As(err, &de) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	return !op.Timeout()
}
