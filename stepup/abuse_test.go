package stepup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

const victimPhone = "+33611111111"

var (
	stranger = ClientInfo{UserAgent: "curl", IP: "203.0.113.66"}
	victim   = ClientInfo{UserAgent: "Mozilla/5.0", IP: "198.51.100.20"}
)

// strangerFails starts logins for the victim's number from c and sends
// wrong codes, n in all; it returns how many were refused without being
// compared (the client was made to wait).
func strangerFails(t *testing.T, h *harness, c ClientInfo, n int) (delayed int) {
	t.Helper()
	ctx := context.Background()
	for n > 0 {
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, c)
		noErr(t, "stranger's start", err)
		code := h.sender.last(t).Code
		for i := 0; i < 5 && n > 0; i++ {
			_, err := h.e.CheckLogin(ctx, flow, wrongCode(code), proofFor(t, newJKT(t)), c)
			if errors.Is(err, ErrRateLimited) {
				delayed++
			} else {
				wantErr(t, "stranger's guess", err, ErrBadCheckCode)
			}
			n--
		}
	}
	return delayed
}

// TestStrangersCannotSlowOrLockTheVictim: a stranger's failures for the
// victim's number slow the stranger only; the victim logs in from another
// client at once.
func TestStrangersCannotSlowOrLockTheVictim(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	if delayed := strangerFails(t, h, stranger, 20); delayed != 10 {
		t.Fatalf("%d of the stranger's 20 guesses were made to wait, want the 10 past the free ones", delayed)
	}
	// The stranger now waits, even on a flow an accomplice started (the
	// stranger's own address has sent its share of codes to the number)...
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: "203.0.113.67"})
	noErr(t, "accomplice's start", err)
	_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, newJKT(t)), stranger)
	wantErr(t, "the stranger, even with the right code", err, ErrRateLimited)
	// ...the victim does not.
	flow, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, victim)
	noErr(t, "victim's start", err)
	_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, newJKT(t)), victim)
	noErr(t, "victim's login", err)
}

// TestGuessingIsBoundedPerIdentifierAcrossClients: 100 consecutive
// failures from any number of clients lock the identifier for every client
// without a device of the victim (NIST SP 800-63B §5.2.2), sends included;
// the victim's known device still logs in.
func TestGuessingIsBoundedPerIdentifierAcrossClients(t *testing.T) {
	ctx := context.Background()
	// Ten codes an hour to one number would make the 100 failures take two
	// hours; the send cap is not what this test is about.
	h := newHarness(t, nil, func(c *Config) { c.OTP.MaxPerHour = 1000 })
	// The victim logged in before on this device: a cookie for its key.
	deviceKey := newJKT(t)
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, victim)
	noErr(t, "first login", err)
	first, err := h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, deviceKey), victim)
	noErr(t, "first login", err)
	if first.Device == "" {
		t.Fatal("a login earned no device cookie")
	}
	// 100 failures from 20 clients, 5 each: no client is ever slowed.
	for i := 0; i < 20; i++ {
		strangerFails(t, h, ClientInfo{IP: fmt.Sprintf("203.0.113.%d", i+1)}, 5)
	}
	sent := h.sender.count()
	_, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: "192.0.2.200"})
	wantErr(t, "a new client after 100 failures", err, ErrRateLimited)
	if h.sender.count() != sent {
		t.Fatal("a code was sent to a locked identifier")
	}
	// The victim's device: its cookie and its key.
	device := victim
	device.Device = first.Device
	flow, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
	noErr(t, "the known device's start", err)
	_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, deviceKey), device)
	noErr(t, "the known device's login", err)
	// The cookie alone, checked with another key, is another client.
	flow, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
	noErr(t, "start with the cookie", err)
	_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, newJKT(t)), device)
	wantErr(t, "the cookie with a stolen code but another key", err, ErrRateLimited)
	// A forged or foreign cookie earns nothing.
	for _, cookie := range []string{"x.y", deviceKey + "." + randText(t), first.Device + "x"} {
		forged := victim
		forged.Device = cookie
		_, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, forged)
		wantErr(t, "a forged device cookie", err, ErrRateLimited)
	}
	other := victim
	other.Device = first.Device
	_, err = h.e.StartLogin(ctx, IdentifierPhone, "+33622222222", other)
	noErr(t, "another number is not locked", err)
}

// TestStrangersCannotUseUpTheVictimsSends: starts by strangers spend the
// shared bucket of the number; the victim's device and its step-up codes
// have their own.
func TestStrangersCannotUseUpTheVictimsSends(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.loginFrom(t, victimPhone, victim) // the first code of the hour without a device
	for i := 0; i < 9; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: fmt.Sprintf("203.0.113.%d", i+1)})
		noErr(t, "stranger's start", err)
	}
	_, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: "203.0.113.99"})
	wantErr(t, "the eleventh start of the hour without a device", err, ErrRateLimited)
	device := victim
	device.Device = c.tokens.Device
	_, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
	noErr(t, "the victim's device", err)
	tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err = h.e.SendStepOTP(ctx, tok, false, victim)
	noErr(t, "the victim's step-up code", err)
}

// countingStore counts the operations that reach a store.
type countingStore struct {
	store.Store
	ops atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, k string) ([]byte, error) {
	c.ops.Add(1)
	return c.Store.Get(ctx, k)
}
func (c *countingStore) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	c.ops.Add(1)
	return c.Store.Set(ctx, k, v, ttl)
}
func (c *countingStore) Create(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	c.ops.Add(1)
	return c.Store.Create(ctx, k, v, ttl)
}
func (c *countingStore) Incr(ctx context.Context, k string, ttl time.Duration) (int64, error) {
	c.ops.Add(1)
	return c.Store.Incr(ctx, k, ttl)
}

// TestClientAndGlobalLimits: one client gets at most 20 unproven login
// codes an hour (whatever the numbers), and a refused start costs one
// store operation and sends nothing; all clients together are bounded too.
func TestClientAndGlobalLimits(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	h := newHarness(t, st, func(c *Config) { c.Limits = RateLimits{} }) // the defaults
	for i := 0; i < 20; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierPhone, fmt.Sprintf("+3361000%04d", i), stranger)
		noErr(t, "start", err)
	}
	sent := h.sender.count()
	for i := 20; i < 300; i++ {
		before := st.ops.Load()
		_, err := h.e.StartLogin(ctx, IdentifierPhone, fmt.Sprintf("+3361000%04d", i), stranger)
		wantErr(t, "a start past the client's unproven sends", err, ErrRateLimited)
		if ops := st.ops.Load() - before; ops != 1 {
			t.Fatalf("a refused start cost %d store operations, want 1", ops)
		}
	}
	if h.sender.count() != sent {
		t.Fatalf("%d codes sent past the limit", h.sender.count()-sent)
	}
	t.Run("global", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) {
			c.Limits = RateLimits{LoginStarts: Rate{5, time.Minute}}
		})
		for i := 0; i < 5; i++ {
			_, err := h.e.StartLogin(ctx, IdentifierPhone, fmt.Sprintf("+3362000%04d", i), ClientInfo{IP: fmt.Sprintf("203.0.113.%d", i+1)})
			noErr(t, "start", err)
		}
		_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33620009999", ClientInfo{IP: "192.0.2.77"})
		wantErr(t, "the sixth start of all clients", err, ErrRateLimited)
	})
	t.Run("unproven sends count resends", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) {
			c.Limits = RateLimits{ClientUnprovenSends: Rate{3, time.Hour}}
			c.OTP.ResendCooldown = time.Millisecond
		})
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, victim)
		noErr(t, "send 1", err)
		for i := 2; i <= 3; i++ {
			h.clk.Advance(time.Second)
			noErr(t, fmt.Sprintf("send %d (a resend)", i), h.e.RetryLogin(ctx, flow, victim))
		}
		h.clk.Advance(time.Second)
		wantErr(t, "send 4 (a resend)", h.e.RetryLogin(ctx, flow, victim), ErrRateLimited)
		noErr(t, "the same resend from another address", h.e.RetryLogin(ctx, flow, ClientInfo{IP: "192.0.2.5"}))
	})
	t.Run("sends per client count every code, steps too", func(t *testing.T) {
		h := newHarness(t, nil, func(c *Config) {
			c.Limits = RateLimits{ClientSends: Rate{3, time.Hour}}
			c.OTP.ResendCooldown = time.Millisecond
		})
		c := h.loginFrom(t, victimPhone, victim) // send 1, proven
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, victim)
		noErr(t, "send 2", err)
		h.clk.Advance(time.Second)
		noErr(t, "send 3", h.e.RetryLogin(ctx, flow, victim))
		h.clk.Advance(time.Second)
		wantErr(t, "send 4 (a resend)", h.e.RetryLogin(ctx, flow, victim), ErrRateLimited)
		tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
		_, err = h.e.SendStepOTP(ctx, tok, false, victim)
		wantErr(t, "send 5 (a step)", err, ErrRateLimited)
		_, err = h.e.SendStepOTP(ctx, tok, false, ClientInfo{IP: "192.0.2.5"})
		noErr(t, "the same step from another address", err)
	})
}

// TestResendsPassEveryLock: a resend is refused where a first code would
// be.
func TestResendsPassEveryLock(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, func(c *Config) { c.OTP.ResendCooldown = time.Millisecond })
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, victim)
	noErr(t, "start", err)
	noErr(t, "lock the identifier", h.st.Set(ctx, identFailKey(IdentifierPhone, victimPhone), []byte("100"), time.Hour))
	h.clk.Advance(time.Second)
	sent := h.sender.count()
	wantErr(t, "a login resend for a locked identifier", h.e.RetryLogin(ctx, flow, victim), ErrRateLimited)
	if h.sender.count() != sent {
		t.Fatal("a login code was sent past the lock")
	}

	c := h.loginFrom(t, "+33633333333", victim)
	tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err = h.e.SendStepOTP(ctx, tok, false, victim)
	noErr(t, "a step code", err)
	sent = h.sender.count()
	noErr(t, "lock the user", h.st.Set(ctx, userFailKey(c.tokens.UserID), []byte("100"), time.Hour))
	h.clk.Advance(time.Minute)
	_, err = h.e.SendStepOTP(ctx, tok, true, victim)
	wantErr(t, "a step resend for a locked user", err, ErrRateLimited)
	if h.sender.count() != sent {
		t.Fatal("a code was sent past a lock")
	}
}

// TestHookIsCalledOnlyWithinTheChallengeCap: past ten step-ups in ten
// minutes the hook is not called.
func TestHookIsCalledOnlyWithinTheChallengeCap(t *testing.T) {
	hs := newHookServer(t, answer(`{"status":"review","steps":[{"order":1,"key":"verify_sms","expiration_duration":300}],"grant_mode":"single-use","granted_for":300}`))
	h := hookHarness(t, hs)
	c := h.login(t, IdentifierPhone, phoneA)
	for i := 0; i < 15; i++ {
		_, err := h.e.RequestStepUp(context.Background(), c.caller(), scopeHooked, nil, Signals{})
		if i < maxOpenChallenges {
			noErr(t, "step-up", err)
		} else {
			wantErr(t, "step-up past the cap", err, ErrTooManyChallenges)
		}
	}
	if len(hs.bodies) != maxOpenChallenges {
		t.Fatalf("15 requests made %d hook calls, want %d", len(hs.bodies), maxOpenChallenges)
	}
}

// TestFullMemoryStoreRefusesNewLogins: past 90% of max_keys new login
// flows are refused; logged-in users keep working.
func TestFullMemoryStoreRefusesNewLogins(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	mem.SetMaxKeys(1000)
	h := newHarness(t, mem)
	c := h.loginFrom(t, victimPhone, victim)
	for i := 0; ; i++ {
		if mem.NearlyFull() {
			break
		}
		noErr(t, "filling", mem.Set(ctx, fmt.Sprintf("filler%d", i), []byte("x"), time.Hour))
	}
	sent := h.sender.count()
	_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33644444444", victim)
	wantErr(t, "a new login in a nearly full store", err, ErrBusy)
	if h.sender.count() != sent {
		t.Fatal("a code was sent")
	}
	_, err = h.refresh(t, c, "")
	noErr(t, "a logged-in user's refresh", err)
}

// loginFrom logs in from client and returns the client with its tokens
// (Tokens.Device holds the device cookie).
func (h *harness) loginFrom(t *testing.T, phone string, from ClientInfo) *client {
	t.Helper()
	flow, err := h.e.StartLogin(context.Background(), IdentifierPhone, phone, from)
	noErr(t, "StartLogin", err)
	c := &client{jkt: newJKT(t)}
	c.tokens, err = h.e.CheckLogin(context.Background(), flow, h.sender.last(t).Code, proofFor(t, c.jkt), from)
	noErr(t, "CheckLogin", err)
	return c
}
