package stepup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Limits of the delegation hook (Prelude's hook contract).
const (
	hookTimeout     = 5 * time.Second
	hookMaxBody     = 64 << 10
	maxStepDuration = 86400
	maxGrantedFor   = 86400
)

// HookSigner signs hook request bodies (jwks.Signer satisfies it).
type HookSigner interface {
	SignDetached(payload []byte) (string, error)
	KeyID() string
}

// hookRequest is the body the delegation hook receives.
type hookRequest struct {
	ScopeRequested string `json:"scope_requested"`
	UserID         string `json:"user_id"`
	// Identifiers that count for the user (users.go): proven with a code,
	// or vouched for by a trusted provider; where verify_sms and
	// verify_email can send a code. A provider's unproven word is never
	// sent.
	Identifiers []Identifier      `json:"identifiers"`
	Signals     Signals           `json:"signals"`
	Metadata    map[string]string `json:"metadata"`
}

// Signals describe the client of a step-up request, for the hook.
type Signals struct {
	UserAgent string `json:"user_agent,omitempty"`
	Platform  string `json:"platform,omitempty"`
	IP        string `json:"ip,omitempty"`
}

// Decision is a hook's (or a direct scope's) answer.
type Decision struct {
	Status     string `json:"status"` // continue | review | block
	Steps      []Step `json:"steps"`
	GrantMode  string `json:"grant_mode"`
	GrantedFor int    `json:"granted_for"` // seconds
}

// Step is one step of a challenge, as the hook and the SDK name its fields.
type Step struct {
	Order              int    `json:"order"`
	Key                string `json:"key"`
	ExpirationDuration int    `json:"expiration_duration"` // seconds
}

// Decision statuses and grant modes.
const (
	StatusContinue    = "continue"
	StatusReview      = "review"
	StatusBlock       = "block"
	GrantSingleUse    = "single-use"
	GrantSessionBound = "session-bound"
)

// callHook asks the delegation hook, strictly: any failure or answer that
// is not exactly valid refuses the step-up (never grants it).
func (e *Engine) callHook(ctx context.Context, url string, req hookRequest) (*Decision, error) {
	body := mustJSON(req)
	sig, err := e.cfg.HookSigner.SignDetached(body)
	if err != nil {
		return nil, unavailable(err)
	}
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, e.hookFailed("request_failed", err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("User-Agent", "caddy-stepup-hook/1.0")
	httpReq.Header.Set("X-Webhook-Signature", sig)
	httpReq.Header.Set("X-Webhook-Signature-Key-Id", e.cfg.HookSigner.KeyID())
	resp, err := e.cfg.HookClient.Do(httpReq)
	if err != nil {
		return nil, e.hookFailed("request_failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, e.hookFailed("invalid_status_code", fmt.Errorf("status %d", resp.StatusCode))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, hookMaxBody+1))
	if err != nil {
		return nil, e.hookFailed("request_failed", err)
	}
	if len(raw) > hookMaxBody {
		return nil, e.hookFailed("response_decode_failed", errors.New("body over 64 KiB"))
	}
	var d Decision
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		return nil, e.hookFailed("response_decode_failed", err)
	}
	if dec.More() {
		return nil, e.hookFailed("response_decode_failed", errors.New("trailing data"))
	}
	if reason, err := e.validateDecision(&d); err != nil {
		return nil, e.hookFailed(reason, err)
	}
	return &d, nil
}

// NewHookClient is the client the engine calls delegation hooks with (5 s,
// no redirects followed), over transport (nil: the default one): a host
// that measures hook calls passes its instrumented transport.
func NewHookClient(transport http.RoundTripper) *http.Client {
	return &http.Client{Timeout: hookTimeout, Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (e *Engine) hookFailed(reason string, err error) error {
	e.log.Warn("delegation hook failed: step-up refused")
	return &hookError{reason: reason, cause: err}
}

// hookError keeps the reason for logs; clients see ErrHookFailed.
type hookError struct {
	reason string
	cause  error
}

func (h *hookError) Error() string        { return "hook " + h.reason + ": " + h.cause.Error() }
func (h *hookError) Unwrap() error        { return h.cause }
func (h *hookError) Is(target error) bool { return target == ErrHookFailed }
func (h *hookError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = ErrHookFailed
		return true
	}
	return false
}

// validateDecision checks a decision the way Prelude documents hook
// failures: status, steps, keys, durations, grant mode and duration.
func (e *Engine) validateDecision(d *Decision) (string, error) {
	switch d.Status {
	case StatusBlock:
		return "", nil
	case StatusContinue, StatusReview:
	default:
		return "invalid_status", fmt.Errorf("status %q", d.Status)
	}
	if d.Status == StatusReview && len(d.Steps) == 0 {
		return "missing_steps", errors.New("review without steps")
	}
	if d.Status == StatusContinue {
		d.Steps = nil
	}
	if len(d.Steps) > 10 {
		return "invalid_step", errors.New("more than 10 steps")
	}
	seen := map[string]bool{}
	for i, st := range d.Steps {
		if !ValidKey(st.Key) || seen[st.Key] {
			return "invalid_step", fmt.Errorf("step %d: key", i)
		}
		seen[st.Key] = true
		if !e.steps.Has(st.Key) {
			return "invalid_step", fmt.Errorf("step %d: key %q is not a managed or configured custom step", i, st.Key)
		}
		if st.ExpirationDuration <= 0 || st.ExpirationDuration > maxStepDuration {
			return "invalid_step", fmt.Errorf("step %d: expiration_duration", i)
		}
	}
	switch d.GrantMode {
	case GrantSingleUse, GrantSessionBound:
	default:
		return "invalid_grant_mode", fmt.Errorf("grant_mode %q", d.GrantMode)
	}
	if d.GrantedFor <= 0 || d.GrantedFor > maxGrantedFor {
		return "invalid_granted_for", fmt.Errorf("granted_for %d", d.GrantedFor)
	}
	// Steps run in the order given; `order`, when present, must agree.
	for i := range d.Steps {
		if d.Steps[i].Order != 0 && d.Steps[i].Order != i+1 {
			return "invalid_step", fmt.Errorf("step %d: order %d", i, d.Steps[i].Order)
		}
		d.Steps[i].Order = i + 1
	}
	return "", nil
}

// ValidKey matches Prelude's `[a-zA-Z0-9._:-]+` (at most 128 bytes) for
// scopes and step keys.
func ValidKey(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
