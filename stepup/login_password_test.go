package stepup

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/password"
)

// fastParams keep the tests quick; the cost is argon2id's all the same.
var fastParams = password.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func withPasswords(cfg *Config) {
	cfg.Passwords = &PasswordLogin{Policy: password.Policy{MinLength: 10, Uppercase: 1, Numbers: 1}, Params: fastParams}
}

const goodPassword = "Correct horse 42"

// signUp runs a whole sign-up: ticket, finalize (the code goes out), the
// code checked; it returns the new session's client.
func (h *harness) signUp(t *testing.T, email, pw string) (*client, error) {
	t.Helper()
	ctx := context.Background()
	ticket, err := h.e.SignUp(ctx, email, pw, testClient)
	if err != nil {
		return nil, err
	}
	c := &client{jkt: newJKT(t)}
	fin, err := h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, c.jkt), testClient)
	if err != nil {
		return nil, err
	}
	if fin.Tokens != nil || fin.FlowID == "" {
		t.Fatalf("a sign-up finalized into %+v, want a login flow", fin)
	}
	msg := h.sender.last(t)
	if msg.To != strings.ToLower(email) || msg.Channel != "email" {
		t.Fatalf("the sign-up code went to %s by %s", msg.To, msg.Channel)
	}
	c.tokens, err = h.e.CheckLogin(ctx, fin.FlowID, msg.Code, proofFor(t, c.jkt), testClient)
	return c, err
}

// passwordLogin runs a password login and its finalize.
func (h *harness) passwordLogin(t *testing.T, email, pw string, device string) (*client, error) {
	t.Helper()
	ctx := context.Background()
	cl := testClient
	cl.Device = device
	ticket, err := h.e.PasswordLogin(ctx, email, pw, cl)
	if err != nil {
		return nil, err
	}
	c := &client{jkt: newJKT(t)}
	fin, err := h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, c.jkt), cl)
	if err != nil {
		return nil, err
	}
	c.tokens = fin.Tokens
	return c, nil
}

func (h *harness) storedUser(t *testing.T, email string) userRecord {
	t.Helper()
	var id string
	if _, err := h.e.load(context.Background(), identKey(IdentifierEmail, email), &id); err != nil {
		t.Fatal(err)
	}
	var u userRecord
	if _, err := h.e.load(context.Background(), userKey(id), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSignUpThenPasswordLogin: the address is proven before the password
// is stored; then the password logs in, with its own acr and amr.
func TestSignUpThenPasswordLogin(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	c, err := h.signUp(t, "Ada@Example.com", goodPassword)
	noErr(t, "sign-up", err)
	signedUp := accessOf(t, c.tokens.AccessToken)
	if !slices.Equal(signedUp.AMR, []string{"otp", "email"}) {
		t.Errorf("sign-up session amr %v", signedUp.AMR)
	}
	u := h.storedUser(t, "ada@example.com")
	if !strings.HasPrefix(u.Password, "$argon2id$") || strings.Contains(string(mustJSON(u)), goodPassword) {
		t.Fatalf("stored user %s", mustJSON(u))
	}
	logged, err := h.passwordLogin(t, "ADA@example.com", goodPassword, "")
	noErr(t, "password login", err)
	claims := accessOf(t, logged.tokens.AccessToken)
	if claims.Sub != signedUp.Sub || claims.ACR != DefaultPasswordACR || !slices.Equal(claims.AMR, []string{"pwd"}) {
		t.Errorf("password session: sub %s (sign-up %s), acr %q, amr %v", claims.Sub, signedUp.Sub, claims.ACR, claims.AMR)
	}
	if logged.tokens.Device == "" {
		t.Error("no device cookie after a password login")
	}
	// The same address's code login reaches the same user.
	byCode := h.login(t, IdentifierEmail, "ada@example.com")
	if accessOf(t, byCode.tokens.AccessToken).Sub != signedUp.Sub {
		t.Error("the code login found another user")
	}
}

// TestPasswordLoginRefusalsLookAlike: a wrong password, an unknown
// address and an account without a password are one refusal.
func TestPasswordLoginRefusalsLookAlike(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	_, err := h.signUp(t, "ada@example.com", goodPassword)
	noErr(t, "sign-up", err)
	h.login(t, IdentifierEmail, "otp-only@example.com") // a user without a password
	ctx := context.Background()
	for name, tc := range map[string][2]string{
		"wrong password":       {"ada@example.com", goodPassword + "!"},
		"unknown address":      {"nobody@example.com", goodPassword},
		"no password":          {"otp-only@example.com", goodPassword},
		"empty password":       {"otp-only@example.com", ""},
		"case of the password": {"ada@example.com", strings.ToLower(goodPassword)},
		"over 1 KiB":           {"ada@example.com", goodPassword + strings.Repeat("x", password.MaxBytes)},
	} {
		_, err := h.e.PasswordLogin(ctx, tc[0], tc[1], testClient)
		wantErr(t, name, err, ErrBadCredentials)
	}
	_, err = h.e.PasswordLogin(ctx, "not an address", goodPassword, testClient)
	wantErr(t, "not an address", err, ErrInvalidIdentifier)
}

// TestSignUpRefusals: the policy, the address, and an address whose
// account has a password already: only its owner, after the code, learns.
func TestSignUpRefusals(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	ctx := context.Background()
	for name, pw := range map[string]string{"short": "Ab1", "no upper case": "correct horse 42", "no digit": "Correct horse", "invalid UTF-8": "Correct horse 42\xff"} {
		_, err := h.e.SignUp(ctx, "ada@example.com", pw, testClient)
		wantErr(t, name, err, ErrInvalidPassword)
	}
	_, err := h.e.SignUp(ctx, "ada@", goodPassword, testClient)
	wantErr(t, "bad address", err, ErrInvalidIdentifier)

	_, err = h.signUp(t, "ada@example.com", goodPassword)
	noErr(t, "first sign-up", err)
	before := h.storedUser(t, "ada@example.com").Password
	// A second sign-up looks the same up to the code; its check says so.
	_, err = h.signUp(t, "ada@example.com", "Another password 7")
	wantErr(t, "second sign-up", err, ErrIdentifierExists)
	if h.storedUser(t, "ada@example.com").Password != before {
		t.Fatal("a second sign-up replaced the password")
	}
	if _, err := h.passwordLogin(t, "ada@example.com", "Another password 7", ""); err != ErrBadCredentials {
		t.Errorf("the second sign-up's password: %v", err)
	}
	// A user who logged in by code can add a password by signing up.
	h.login(t, IdentifierEmail, "bob@example.com")
	_, err = h.signUp(t, "bob@example.com", goodPassword)
	noErr(t, "sign-up of a code user", err)
	_, err = h.passwordLogin(t, "bob@example.com", goodPassword, "")
	noErr(t, "password of a code user", err)
}

// TestLoginTickets: finalized once, by the right kind of request.
func TestLoginTickets(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	_, err := h.signUp(t, "ada@example.com", goodPassword)
	noErr(t, "sign-up", err)
	ctx := context.Background()
	ticket, err := h.e.PasswordLogin(ctx, "ada@example.com", goodPassword, testClient)
	noErr(t, "login", err)
	jkt := newJKT(t)
	_, err = h.e.FinalizeLogin(ctx, ticket, "", nil, testClient)
	wantErr(t, "without a proof", err, ErrMissingDPoP)
	_, err = h.e.FinalizeLogin(ctx, ticket, strings.Repeat("v", 43), proofFor(t, jkt), testClient)
	wantErr(t, "a password ticket with a verifier", err, ErrInvalidLoginTicket)
	_, err = h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	wantErr(t, "after a failed finalize", err, ErrInvalidLoginTicket)

	ticket, _ = h.e.PasswordLogin(ctx, "ada@example.com", goodPassword, testClient)
	_, err = h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	noErr(t, "finalize", err)
	_, err = h.e.FinalizeLogin(ctx, ticket, "", proofFor(t, jkt), testClient)
	wantErr(t, "twice", err, ErrInvalidLoginTicket)
	for _, id := range []string{"", "lgn_x", "vfy_" + strings.Repeat("a", 22), ticket + "a"} {
		_, err = h.e.FinalizeLogin(ctx, id, "", proofFor(t, jkt), testClient)
		wantErr(t, "id "+id, err, ErrInvalidLoginTicket)
	}
}

// TestPasswordGuessing: the address locks at MaxUserFailures, for
// strangers; a device that logged in before keeps its own count; parallel
// guesses are counted before they are compared.
func TestPasswordGuessing(t *testing.T) {
	h := newHarness(t, nil, withPasswords, func(c *Config) { c.OTP.MaxUserFailures = 5 })
	_, err := h.signUp(t, "ada@example.com", goodPassword)
	noErr(t, "sign-up", err)
	own, err := h.passwordLogin(t, "ada@example.com", goodPassword, "")
	noErr(t, "login", err)
	device := own.tokens.Device

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stranger := ClientInfo{IP: "198.51.100." + itoa(i+1)}
			_, errs[i] = h.e.PasswordLogin(ctx, "ada@example.com", "Wrong guess 0"+itoa(i), stranger)
		}()
	}
	wg.Wait()
	compared := 0
	for i, err := range errs {
		switch err {
		case ErrBadCredentials:
			compared++
		case ErrRateLimited:
		default:
			t.Errorf("guess %d: %v", i, err)
		}
	}
	// Each attempt is counted before its comparison: of 12 parallel
	// guesses, at most MaxUserFailures were compared.
	if n := h.counterOf(t, identFailKey(IdentifierEmail, "ada@example.com")); compared > 5 || n < 5 {
		t.Errorf("%d of 12 parallel guesses compared, the address counted %d; want at most 5 compared", compared, n)
	}
	// Strangers, right password or not, are locked out...
	_, err = h.e.PasswordLogin(ctx, "ada@example.com", goodPassword, ClientInfo{IP: "198.51.100.99"})
	wantErr(t, "a stranger after the lock", err, ErrRateLimited)
	// ...the user's own device is not.
	_, err = h.passwordLogin(t, "ada@example.com", goodPassword, device)
	noErr(t, "the user's device after the lock", err)
	// A forged device cookie is a stranger.
	_, err = h.passwordLogin(t, "ada@example.com", goodPassword, "jkt-x."+strings.Repeat("A", 43))
	wantErr(t, "a forged device cookie", err, ErrRateLimited)
}

// TestPasswordClientDelay: one client failing across many addresses waits
// after freeFailures, whatever the address.
func TestPasswordClientDelay(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	ctx := context.Background()
	guesser := ClientInfo{IP: "203.0.113.7"}
	for i := 0; i < freeFailures; i++ {
		_, err := h.e.PasswordLogin(ctx, "user"+itoa(i)+"@example.com", goodPassword, guesser)
		wantErr(t, "guess "+itoa(i), err, ErrBadCredentials)
	}
	_, err := h.e.PasswordLogin(ctx, "another@example.com", goodPassword, guesser)
	wantErr(t, "past the free failures", err, ErrRateLimited)
	_, err = h.e.PasswordLogin(ctx, "another@example.com", goodPassword, ClientInfo{IP: "203.0.113.8"})
	wantErr(t, "another client", err, ErrBadCredentials)
}

// TestStaleHashIsRenewed: a hash made with older parameters logs in and is
// replaced by one with the current parameters.
func TestStaleHashIsRenewed(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	_, err := h.signUp(t, "ada@example.com", goodPassword)
	noErr(t, "sign-up", err)
	newer := newHarness(t, h.st, func(c *Config) {
		withPasswords(c)
		c.Passwords.Params.Time = 2
		c.Signer = h.signer
	})
	_, err = newer.passwordLogin(t, "ada@example.com", goodPassword, "")
	noErr(t, "login with newer parameters", err)
	if got := newer.storedUser(t, "ada@example.com").Password; !strings.Contains(got, ",t=2,") {
		t.Errorf("the hash was not renewed: %s", got)
	}
	_, err = newer.passwordLogin(t, "ada@example.com", goodPassword, "")
	noErr(t, "login with the renewed hash", err)
}

// TestPasswordConfig: policy and parameters are checked by New.
func TestPasswordConfig(t *testing.T) {
	for name, p := range map[string]PasswordLogin{
		"negative minimum": {Policy: password.Policy{MinLength: -1}},
		"tiny memory":      {Policy: password.Policy{MinLength: 8}, Params: password.Params{Time: 1, MemoryKiB: 64, Threads: 1}},
		"possession":       {Policy: password.Policy{MinLength: 8}, ACR: acrPhone},
		"quote in acr":     {Policy: password.Policy{MinLength: 8}, ACR: `a"b`},
	} {
		cfg := validConfig(t)
		cfg.PossessionACR = []string{acrPhone}
		cfg.Passwords = &p
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if policy, err := newHarness(t, nil).e.PasswordPolicy(); err != ErrNotConfigured {
		t.Errorf("policy without password login: %+v %v", policy, err)
	}
	h := newHarness(t, nil, withPasswords)
	policy, err := h.e.PasswordPolicy()
	b, _ := json.Marshal(policy)
	if err != nil || string(b) != `{"min_length":10,"max_length":128,"uppercase":1,"lowercase":0,"numbers":1,"symbols":0}` {
		t.Errorf("policy %s %v", b, err)
	}
}
