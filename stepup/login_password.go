package stepup

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/password"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// Password login and sign-up with an email address (SDK:
// loginWithPassword, signUpWithEmail, getPasswordCompliancy).
//
// A sign-up proves the address before anything is stored for it: its
// ticket, finalized, sends a code to the address, and the login that code
// completes sets the password. The answer to a sign-up never says whether
// the address has an account; only its owner, having proven it, learns
// that it already had a password.
//
// A password login verifies the password at once (the SDK sends no DPoP
// proof with it) and answers a ticket that /login/finalize, with the proof,
// turns into a session. An unknown address, an account without a password
// and a wrong password answer the same bytes after the same work: one
// argon2id verification and the same store reads.

// DefaultPasswordACR is the acr of a password login's tokens unless
// PasswordLogin.ACR says otherwise.
const DefaultPasswordACR = "urn:stepup:pwd"

// methodsPassword are the RFC 8176 methods of a password login.
var methodsPassword = []string{"pwd"}

// PasswordLogin turns password login and sign-up on.
type PasswordLogin struct {
	Policy password.Policy
	Params password.Params // default password.DefaultParams
	// ConcurrentHashes is how many argon2id hashes run at once; 0:
	// password.DefaultConcurrency (half the cores), so that a burst of
	// logins leaves room for the requests that verify tokens.
	ConcurrentHashes int
	// ACR is the acr of the tokens of a password login (default
	// DefaultPasswordACR).
	ACR string
}

// PasswordPolicy is the policy new passwords must meet
// (/password/compliancy).
func (e *Engine) PasswordPolicy() (password.Policy, error) {
	if e.passwords == nil {
		return password.Policy{}, ErrNotConfigured
	}
	return e.cfg.Passwords.Policy, nil
}

// SignUp checks a new account's email address and password against the
// policy and returns a ticket; finalizing it sends the code that proves
// the address. Each sign-up counts as a login start of the client.
func (e *Engine) SignUp(ctx context.Context, email, pw string, client ClientInfo) (string, error) {
	if e.passwords == nil || e.cfg.Sender == nil {
		return "", ErrNotConfigured
	}
	email, ok := normalizeIdentifier(IdentifierEmail, email)
	if !ok {
		return "", ErrInvalidIdentifier
	}
	if !e.cfg.Passwords.Policy.Allows(pw) {
		return "", ErrInvalidPassword
	}
	counted, refund, err := e.startLoginWork(ctx, client, false)
	if err != nil {
		return "", err
	}
	hash, err := e.passwords.Hash(ctx, pw)
	if err != nil {
		e.giveBack(ctx, counted) // the gateway refused the work, not the client
		return "", hashErr(err)
	}
	// The sign-up completes when its code proves the address: the login
	// flow that code checks gives the start back.
	return e.issueTicket(ctx, loginTicket{Kind: ticketSignUp, Email: email, Hash: hash, Refund: []string{refund}})
}

// PasswordLogin checks an email address and password and returns a ticket
// for /login/finalize. Guessing is bounded as for codes (login_otp.go): the
// address's failure counter (or that of the client's device for it) locks
// at MaxUserFailures, the client's slows it down past freeFailures, and
// both count before the comparison, so parallel guesses gain nothing.
func (e *Engine) PasswordLogin(ctx context.Context, email, pw string, client ClientInfo) (ticket string, err error) {
	defer func() { e.loginResult("password", client, nil, err) }()
	if e.passwords == nil {
		return "", ErrNotConfigured
	}
	email, ok := normalizeIdentifier(IdentifierEmail, email)
	if !ok {
		return "", ErrInvalidIdentifier
	}
	account := identFailKey(IdentifierEmail, email)
	jkt, known := e.deviceOf(IdentifierEmail, email, client.Device)
	if known {
		account = identDeviceFailKey(IdentifierEmail, email, jkt)
	}
	counted, refund, err := e.startLoginWork(ctx, client, known)
	if err != nil {
		return "", err
	}
	guess := guessCounters{account: account, client: clientFailKey(clientKey(client.IP))}
	if err := e.checkGuessing(ctx, &guess); err != nil {
		return "", err
	}
	if err := e.countAttempt(ctx, &guess); err != nil {
		return "", err
	}
	user, err := e.passwordUser(ctx, email)
	if err != nil {
		return "", err
	}
	hash := ""
	if user != nil {
		hash = user.Password
	}
	match, stale, err := e.passwords.Verify(ctx, pw, hash)
	if err != nil && !errors.Is(err, password.ErrMalformed) {
		e.giveBack(ctx, counted) // the gateway refused the work, not the client
		return "", hashErr(err)
	}
	if !match {
		return "", ErrBadCredentials
	}
	if err := e.clearGuessing(ctx, &guess); err != nil {
		return "", err
	}
	if refund != "" {
		e.giveBack(ctx, []string{refund}) // a completed login
	}
	if stale {
		if fresh, err := e.passwords.Hash(ctx, pw); err == nil {
			_ = e.setPassword(ctx, user.ID, fresh, true) // best effort: the old hash still works
		}
	}
	event := authEvent{At: e.now().Unix(), AMR: methodsPassword}
	event.ACR = e.earnedACR(e.cfg.Passwords.ACR, event.AMR)
	return e.issueTicket(ctx, loginTicket{Kind: ticketPassword, UserID: user.ID, Email: email, Event: event})
}

// allowLoginWork counts a login that costs a password hash or a
// provider's round trip against the client's and everyone's login starts
// (loginWorkCounters): argon2id is the most expensive thing a stranger can
// ask for.
func (e *Engine) allowLoginWork(ctx context.Context, client ClientInfo) error {
	_, _, err := e.startLoginWork(ctx, client, false)
	return err
}

// startLoginWork is allowLoginWork; it returns the counters it counted in,
// and the one the login's completion gives back (the client's unfinished
// logins; "" for a known device's login, which is not counted there).
func (e *Engine) startLoginWork(ctx context.Context, client ClientInfo, knownDevice bool) (counted []string, refund string, err error) {
	if full, ok := e.cfg.Store.(store.Bounded); ok && full.NearlyFull() {
		return nil, "", ErrBusy
	}
	counters, refund := e.loginWorkCounters(client, knownDevice)
	if err := e.spend(ctx, "", counters); err != nil {
		return nil, "", err
	}
	return keysOf(counters), refund, nil
}

// countAttempt counts an attempt as a failure of both counters before the
// comparison; a success clears them (clearGuessing). Past the lock, the
// attempt is refused without a comparison.
func (e *Engine) countAttempt(ctx context.Context, g *guessCounters) error {
	n, err := e.cfg.Store.Incr(ctx, g.account, failureMemory)
	if err != nil {
		return storeErr(err)
	}
	g.accountSeen = int(n)
	c, err := e.cfg.Store.Incr(ctx, g.client, failureMemory)
	if err != nil {
		return storeErr(err)
	}
	g.clientSeen = int(c)
	if delay := failureDelay(c); delay > 0 {
		if err := e.cfg.Store.Set(ctx, failWaitKey(g.client), []byte("1"), delay); err != nil {
			return storeErr(err)
		}
	}
	if n > int64(e.cfg.OTP.MaxUserFailures) {
		return ErrRateLimited
	}
	return nil
}

// passwordUser loads the user for whom an email address counts (users.go:
// proven, and indexed to them), or nil. Every answer costs two store reads.
func (e *Engine) passwordUser(ctx context.Context, email string) (*userRecord, error) {
	var userID string
	if _, err := e.load(ctx, identKey(IdentifierEmail, email), &userID); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		userID = newID(prefixUser) // read a user that does not exist
	}
	var u userRecord
	if _, err := e.load(ctx, userKey(userID), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if held := u.find(Identifier{Type: IdentifierEmail, Value: email}); held == nil || !e.proven(held) {
		// A provider's word, or a record from before proofs were
		// recorded: the address is not this user's to log in with.
		return nil, nil
	}
	return &u, nil
}

// setPassword stores a password hash on a user. A sign-up (replace false)
// refuses a user who has one already.
func (e *Engine) setPassword(ctx context.Context, userID, hash string, replace bool) error {
	for attempt := 0; attempt < 3; attempt++ {
		var u userRecord
		raw, err := e.load(ctx, userKey(userID), &u)
		if err != nil {
			return err
		}
		if u.Password != "" && !replace {
			return ErrIdentifierExists
		}
		u.Password = hash
		err = e.cfg.Store.Swap(ctx, userKey(userID), raw, mustJSON(u), e.cfg.UserTTL)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return storeErr(err)
	}
	return unavailable(errors.New("user record keeps changing"))
}

// hashErr maps the hasher's refusals.
func hashErr(err error) error {
	switch {
	case errors.Is(err, password.ErrBusy):
		return ErrBusy
	case errors.Is(err, password.ErrTooLong):
		return ErrInvalidPassword
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return unavailable(err)
	}
	return unavailable(err)
}

// ticketTTL is how long a login ticket waits for /login/finalize.
const ticketTTL = 5 * time.Minute
