// Package sessionclient is a Go client of the gateway's session API that
// behaves like the Prelude web SDK on the wire: a P-256 DPoP key, proofs
// with the nonce dance for session endpoints, challenge-bound proofs (jti =
// the challenge token's jti, no nonce) for step-up endpoints, and the
// refresh token and login flow kept from their HttpOnly cookies and sent
// back as cookies (the SDK's fetch with credentials: "include"). Only those
// two cookies are kept: tests that want others (the device cookie) send
// them in Request.Header. Whole-server tests and the benchmarks use it.
package sessionclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

var b64 = base64.RawURLEncoding

// Client talks to one gateway as one browser would.
type Client struct {
	// Base is where requests go, e.g. http://127.0.0.1:8080.
	Base string
	// Origin is what DPoP proofs name as htu (the gateway's external_url);
	// default Base.
	Origin string
	// HTTP sends the requests; default a client with a 10 s timeout.
	HTTP *http.Client

	Key          *ecdsa.PrivateKey
	Nonce        string // the last DPoP-Nonce the gateway sent
	RefreshToken string // the refresh cookie's value
	AccessToken  string
	Verification string // the OTP context of a login (the login cookie's value)
	OTPContext   string // the OTP context of a step (the challenge token)
}

// The gateway's cookies the client keeps.
const (
	refreshCookie = "__Host-stepup-refresh"
	loginCookie   = "__Host-stepup-login"
)

// New returns a client with a fresh DPoP key.
func New(base string) *Client {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Client{Base: base, HTTP: &http.Client{Timeout: 10 * time.Second}, Key: key}
}

// Response is an answer of the gateway.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Code is the error code of a JSON error body.
func (r *Response) Code() string {
	s, _ := r.JSON["code"].(string)
	return s
}

// String returns a JSON member as a string.
func (r *Response) String(name string) string {
	s, _ := r.JSON[name].(string)
	return s
}

func (r *Response) Error() string { return fmt.Sprintf("status %d: %s", r.Status, r.Body) }

// Request is one call; zero fields are left out.
type Request struct {
	Method, Path string
	Body         any
	Bearer       bool   // send the access token
	SessionDPoP  bool   // a session proof with the nonce dance
	ChallengeJTI string // a challenge-bound proof with this jti
	Refresh      bool   // send the refresh cookie
	LoginFlow    bool   // send the login cookie
	Header       http.Header
}

// Do sends req, retrying once with the nonce when the gateway asks for one.
func (c *Client) Do(req Request) (*Response, error) {
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if req.SessionDPoP && resp.Status >= 400 && resp.Code() == "use_dpop_nonce" {
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.Nonce = n
			return c.do(req)
		}
	}
	return resp, nil
}

func (c *Client) do(req Request) (*Response, error) {
	var body io.Reader
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	httpReq, err := http.NewRequest(req.Method, c.Base+req.Path, body)
	if err != nil {
		return nil, err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "application/json")
	for k, v := range req.Header {
		httpReq.Header[k] = v
	}
	if req.Bearer {
		httpReq.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	if req.Refresh && c.RefreshToken != "" {
		addCookie(httpReq, refreshCookie, c.RefreshToken)
	}
	if req.LoginFlow && c.Verification != "" {
		addCookie(httpReq, loginCookie, c.Verification)
	}
	switch {
	case req.SessionDPoP:
		httpReq.Header.Set("DPoP", c.Proof(req.Method, req.Path, randomID(), c.Nonce))
	case req.ChallengeJTI != "":
		httpReq.Header.Set("DPoP", c.Proof(req.Method, req.Path, req.ChallengeJTI, ""))
	}
	resp, err := c.HTTP.Do(httpReq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	out.Body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if len(out.Body) > 0 {
		_ = json.Unmarshal(out.Body, &out.JSON)
	}
	if req.SessionDPoP {
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.Nonce = n
		}
	}
	for _, ck := range resp.Cookies() {
		switch {
		case ck.Value == "":
		case ck.Name == refreshCookie:
			c.RefreshToken = ck.Value
		case ck.Name == loginCookie:
			c.Verification = ck.Value
		}
	}
	if tok, ok := out.JSON["access_token"].(string); ok && resp.StatusCode == 200 {
		c.AccessToken = tok
	}
	return out, nil
}

// addCookie adds a cookie unless the request's headers already name it
// (a test that sends its own).
func addCookie(r *http.Request, name, value string) {
	if _, err := r.Cookie(name); err == nil {
		return
	}
	r.AddCookie(&http.Cookie{Name: name, Value: value})
}

// Proof builds a DPoP proof exactly as the SDK does (prelude-protocol.md §6.2).
func (c *Client) Proof(method, path, jti, nonce string) string {
	origin := c.Origin
	if origin == "" {
		origin = c.Base
	}
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(c.Key)}
	claims := map[string]any{"jti": jti, "htm": method, "htu": origin + strings.SplitN(path, "?", 2)[0], "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return SignES256(c.Key, header, claims)
}

// SignES256 makes a compact JWS over exactly the given header and claims.
func SignES256(key *ecdsa.PrivateKey, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		panic(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + b64.EncodeToString(sig)
}

// Claims decodes a JWT's payload without verifying it (as the SDK does).
func Claims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

const api = "/v1/session"

// StartLogin calls POST /login/otp; its login cookie is the OTP context.
func (c *Client) StartLogin(typ, value string) (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/login/otp",
		Body: map[string]any{"identifier": map[string]string{"type": typ, "value": value}}})
}

// RetryLogin calls POST /login/otp/retry.
func (c *Client) RetryLogin() (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/login/otp/retry", LoginFlow: true})
}

// CheckLogin calls POST /login/otp/check with a session proof.
func (c *Client) CheckLogin(code string) (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/login/otp/check", Body: map[string]string{"code": code},
		SessionDPoP: true, LoginFlow: true})
}

// PasswordLogin calls POST /login/email/password.
func (c *Client) PasswordLogin(email, password string) (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/login/email/password", Body: map[string]string{"identifier": email, "password": password}})
}

// SignUp calls POST /login/email/sign-up.
func (c *Client) SignUp(email, password string) (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/login/email/sign-up", Body: map[string]string{"identifier": email, "password": password}})
}

// Finalize calls POST /login/finalize with a ticket (and a PKCE verifier
// for OAuth), as the SDK's finalizeLogin does; a sign-up's answer sets the
// login cookie CheckLogin sends.
func (c *Client) Finalize(ticket, codeVerifier string) (*Response, error) {
	body := map[string]string{"challenge_token": ticket}
	if codeVerifier != "" {
		body["code_verifier"] = codeVerifier
	}
	return c.Do(Request{Method: "POST", Path: api + "/login/finalize", Body: body, SessionDPoP: true})
}

// Refresh calls POST /refresh, with a completed challenge token if given.
func (c *Client) Refresh(stepUpToken string) (*Response, error) {
	var body any
	if stepUpToken != "" {
		body = map[string]string{"step_up_token": stepUpToken}
	}
	return c.Do(Request{Method: "POST", Path: api + "/refresh", Body: body, SessionDPoP: true, Refresh: true})
}

// Revoke calls POST /revoke (logout).
func (c *Client) Revoke() (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/revoke", SessionDPoP: true, Refresh: true})
}

// RequestStepUp calls POST /stepup/request.
func (c *Client) RequestStepUp(scope string, metadata map[string]string) (*Response, error) {
	body := map[string]any{"scope": scope}
	if metadata != nil {
		body["metadata"] = metadata
	}
	return c.Do(Request{Method: "POST", Path: api + "/stepup/request", Body: body, Bearer: true})
}

// SendOTP calls POST /otp for a challenge and keeps its OTP context.
func (c *Client) SendOTP(challengeToken string) (*Response, error) {
	c.OTPContext = challengeToken
	return c.Do(Request{Method: "POST", Path: api + "/otp", Body: map[string]string{"challenge_token": challengeToken}})
}

// RetryOTP calls POST /otp/retry.
func (c *Client) RetryOTP() (*Response, error) {
	return c.Do(Request{Method: "POST", Path: api + "/otp/retry", Header: c.verificationHeader(c.OTPContext)})
}

// CheckOTP calls POST /otp/check with a challenge-bound proof.
func (c *Client) CheckOTP(challengeToken, code string) (*Response, error) {
	jti, _ := Claims(challengeToken)["jti"].(string)
	return c.Do(Request{Method: "POST", Path: api + "/otp/check", ChallengeJTI: jti,
		Body: map[string]string{"code": code, "challenge_token": challengeToken}})
}

// Continue calls POST /stepup/continue with a verification token.
func (c *Client) Continue(challengeToken, verificationToken string) (*Response, error) {
	jti, _ := Claims(challengeToken)["jti"].(string)
	return c.Do(Request{Method: "POST", Path: api + "/stepup/continue", ChallengeJTI: jti, Bearer: true,
		Body: map[string]string{"challenge_token": challengeToken, "verification_token": verificationToken}})
}

func (c *Client) verificationHeader(v string) http.Header {
	if v == "" {
		return nil
	}
	return http.Header{"X-Verification-Token": {v}}
}
