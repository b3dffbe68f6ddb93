package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Request headers.
const (
	// HeaderSignature is Prelude's: the body's RSASSA-PSS SHA-256
	// signature, base64url, after SignaturePrefix.
	HeaderSignature = "X-Webhook-Signature"
	// HeaderKeyID names the signing key in the gateway's JWKS.
	HeaderKeyID = "X-Webhook-Signature-Key-Id"
	// SignaturePrefix says which signature follows, as Prelude's webhook
	// documentation writes it.
	SignaturePrefix = "rsassa-pss-sha256="
	// HeaderDeliveryID is new for every attempt (128 bits, crypto/rand);
	// the event's ID in the body stays the same across attempts.
	HeaderDeliveryID = "X-Stepup-Delivery-Id"
	// HeaderSharedSecret is the optional HMAC of an endpoint's secret,
	// in the OTP webhook sender's format.
	HeaderSharedSecret = "X-Stepup-Signature"
	userAgent          = "caddy-stepup-webhooks/1.0"
	maxAnswerBytes     = 64 << 10
)

// send makes one attempt: a 2xx answer is a delivery; any other answer,
// a redirect (never followed) or no answer is a failure. It returns the
// answer's status (0 without one). Errors name neither the URL (it may
// carry a secret) nor the body.
func (l *lane) send(d *delivery) (int, error) {
	sig, err := l.o.Signer.SignDetached(d.body)
	if err != nil {
		return 0, errors.New("webhooks: signing failed")
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.ep.URL, bytes.NewReader(d.body))
	if err != nil {
		return 0, errors.New("webhooks: building the request failed")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderSignature, SignaturePrefix+sig)
	req.Header.Set(HeaderKeyID, l.o.Signer.KeyID())
	req.Header.Set(HeaderDeliveryID, deliveryID())
	if len(l.ep.Secret) > 0 {
		req.Header.Set(HeaderSharedSecret, SharedSecretSignature(l.ep.Secret, time.Now(), d.body))
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, errors.New("webhooks: no answer")
	}
	// Drain (capped) so the connection can be reused; the answer is
	// never read otherwise, nor logged.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhooks: receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// SharedSecretSignature is the X-Stepup-Signature value of body at t:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>".
func SharedSecretSignature(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// deliveryID is 128 bits from crypto/rand, base64url.
func deliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics otherwise)
	return base64.RawURLEncoding.EncodeToString(b)
}
