package stepup

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// writesStore records the writes that reach a store (every call but Get
// and Members), by operation and key.
type writesStore struct {
	store.Store
	mu     sync.Mutex
	writes []string
}

func (s *writesStore) note(op, key string) {
	s.mu.Lock()
	s.writes = append(s.writes, op+" "+key)
	s.mu.Unlock()
}

// since returns the writes recorded after the first n.
func (s *writesStore) since(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes[n:]...)
}

func (s *writesStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

func (s *writesStore) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	s.note("set", k)
	return s.Store.Set(ctx, k, v, ttl)
}
func (s *writesStore) Create(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	s.note("create", k)
	return s.Store.Create(ctx, k, v, ttl)
}
func (s *writesStore) Swap(ctx context.Context, k string, old, v []byte, ttl time.Duration) error {
	s.note("swap", k)
	return s.Store.Swap(ctx, k, old, v, ttl)
}
func (s *writesStore) Take(ctx context.Context, k string) ([]byte, error) {
	s.note("take", k)
	return s.Store.Take(ctx, k)
}
func (s *writesStore) Incr(ctx context.Context, k string, ttl time.Duration) (int64, error) {
	s.note("incr", k)
	return s.Store.Incr(ctx, k, ttl)
}
func (s *writesStore) Decr(ctx context.Context, k string) error {
	s.note("decr", k)
	return s.Store.Decr(ctx, k)
}
func (s *writesStore) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		s.note("delete", k)
	}
	return s.Store.Delete(ctx, keys...)
}
func (s *writesStore) AddMember(ctx context.Context, k, m string, ttl time.Duration) error {
	s.note("addmember", k)
	return s.Store.AddMember(ctx, k, m, ttl)
}

// natDefaults are the default limits, but for the two shared by every
// client: the tests run an hour's logins in a second.
func natDefaults(c *Config) {
	c.Limits = RateLimits{LoginStarts: Rate{1_000_000, time.Minute}, Sends: Rate{1_000_000, time.Minute}}
}

// TestManyUsersBehindOneAddressAndAClientSendingCodesToStrangers: 1,000 users behind one address each
// log in (their codes are given back as they prove them), a pumper at the
// same address is stopped at 20 unproven codes, and the users log in again
// with their device cookies while the pumper keeps trying. A new user
// behind that address waits for the pumper's window to end; one elsewhere
// does not.
func TestManyUsersBehindOneAddressAndAClientSendingCodesToStrangers(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, natDefaults)
	nat := ClientInfo{UserAgent: "Mozilla/5.0", IP: "198.51.100.7"}
	phone := func(i int) string { return fmt.Sprintf("+3361%07d", i) }
	type user struct{ jkt, device string }
	users := make([]user, 1000)
	for i := range users {
		users[i].jkt = newJKT(t)
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, phone(i), nat)
		noErr(t, fmt.Sprintf("user %d's start", i), err)
		tokens, err := h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, users[i].jkt), nat)
		noErr(t, fmt.Sprintf("user %d's check", i), err)
		users[i].device = tokens.Device
	}
	who := budgetClient(nat.IP)
	if n := h.counterOf(t, clientUnprovenKey(who)); n != 0 {
		t.Fatalf("the address's unproven sends after 1,000 proven codes: %d, want 0", n)
	}
	if n := h.counterOf(t, clientSendsKey(who)); n != 1000 {
		t.Fatalf("the address's sends: %d, want 1000", n)
	}

	pumped := 0
	pump := func(n int) {
		for range n {
			before := h.sender.count()
			_, err := h.e.StartLogin(ctx, IdentifierPhone, fmt.Sprintf("+88216%06d", pumped), nat)
			pumped++
			if err == nil {
				continue
			}
			wantErr(t, "the pumper's start", err, ErrRateLimited)
			if h.sender.count() != before {
				t.Fatal("a refused start sent a code")
			}
		}
	}
	pump(100)
	premium := func() int {
		n := 0
		for i := 0; i < pumped; i++ {
			_, sent := h.sender.to(fmt.Sprintf("+88216%06d", i))
			n += sent
		}
		return n
	}
	if got := premium(); got != 20 {
		t.Fatalf("the pumper got %d codes sent, want its address's 20 unproven ones", got)
	}

	for i, u := range users {
		device := nat
		device.Device = u.device
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, phone(i), device)
		noErr(t, fmt.Sprintf("user %d's second start, from its device", i), err)
		_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, u.jkt), device)
		noErr(t, fmt.Sprintf("user %d's second login", i), err)
		if i%50 == 0 {
			pump(5)
		}
	}
	if got := premium(); got != 20 {
		t.Fatalf("the pumper got %d codes sent after trying %d, want 20", got, pumped)
	}
	_, err := h.e.StartLogin(ctx, IdentifierPhone, "+33699000001", nat)
	wantErr(t, "a new user behind the pumper's address", err, ErrRateLimited)
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, "+33699000001", ClientInfo{IP: "192.0.2.200"})
	noErr(t, "the same new user from another address", err)
	_, err = h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, newJKT(t)), ClientInfo{IP: "192.0.2.200"})
	noErr(t, "the new user's login", err)
}

// TestOneClientGetsAShareOfADestination: a stranger at one address sends a
// victim's number one login's codes an hour (1 + max_resends), not the
// number's ten; the victim, from a new device elsewhere, gets its code at
// once. The stranger's refused sends cost the stranger's address nothing.
func TestOneClientGetsAShareOfADestination(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, func(c *Config) {
		natDefaults(c)
		c.OTP.ResendCooldown = time.Millisecond
	})
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, stranger)
	noErr(t, "the stranger's start", err)
	for i := 0; i < 3; i++ {
		h.clk.Advance(time.Second)
		noErr(t, "the stranger's resend", h.e.RetryLogin(ctx, flow, stranger))
	}
	who := budgetClient(stranger.IP)
	unproven, sends := h.counterOf(t, clientUnprovenKey(who)), h.counterOf(t, clientSendsKey(who))
	for i := 0; i < 10; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, stranger)
		wantErr(t, "the stranger's fifth code to the number", err, ErrRateLimited)
	}
	if n := h.counterOf(t, clientShareKey(victimPhone, who)); n != 14 {
		t.Fatalf("the stranger's share of the number holds %d, want 4 sent and 10 refused", n)
	}
	if u, s := h.counterOf(t, clientUnprovenKey(who)), h.counterOf(t, clientSendsKey(who)); u != unproven || s != sends {
		t.Fatalf("refused sends moved the stranger's budgets: unproven %d→%d, sends %d→%d", unproven, u, sends, s)
	}
	if _, sent := h.sender.to(victimPhone); sent != 4 {
		t.Fatalf("%d codes reached the victim's number, want 4", sent)
	}
	// The victim's new device, elsewhere: its code at once.
	c := h.loginFrom(t, victimPhone, victim)
	if n := h.counterOf(t, clientShareKey(victimPhone, budgetClient(victim.IP))); n != 0 {
		t.Fatalf("the victim's proven code still counts in its share: %d", n)
	}
	// Strangers at two more addresses spend the number's shared ten (4 + 1
	// + 4 + 1); the victim's device has its own budget.
	for i, ip := range []string{"203.0.113.70", "203.0.113.71"} {
		for j := 0; j < 4 && !(i == 1 && j == 1); j++ {
			_, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: ip})
			noErr(t, "another stranger's start", err)
		}
	}
	_, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, ClientInfo{IP: "203.0.113.72"})
	wantErr(t, "the eleventh code of the hour without a device", err, ErrRateLimited)
	device := victim
	device.Device = c.tokens.Device
	_, err = h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
	noErr(t, "the victim's device", err)
}

// TestRefusedSendsLeaveNoTrace: wherever a login code is refused (each
// counter at its limit, or the identifier locked), nothing is sent, no
// flow is stored, and every counter but the one that refused holds what
// it held before.
func TestRefusedSendsLeaveNoTrace(t *testing.T) {
	ctx := context.Background()
	const number = "+33655555555"
	from := ClientInfo{IP: "203.0.113.9"}
	who := budgetClient(from.IP)
	counters := []string{clientUnprovenKey(who), clientSendsKey(who), clientShareKey(number, who), sendsKey(number),
		globalSendsKey, globalStartsKey, identFailKey(IdentifierPhone, number)}
	for _, tc := range []struct {
		name, key string
		full      int
	}{
		{"client's unproven sends", clientUnprovenKey(who), 20},
		{"identifier locked", identFailKey(IdentifierPhone, number), 100},
		{"client's sends", clientSendsKey(who), 3000},
		{"client's share of the number", clientShareKey(number, who), 4},
		{"number's codes", sendsKey(number), 10},
		{"everyone's codes", globalSendsKey, 600},
		{"everyone's login starts", globalStartsKey, 600},
	} {
		for _, op := range []string{"start", "resend"} {
			if op == "resend" && tc.key == globalStartsKey {
				continue // a resend starts no login
			}
			t.Run(tc.name+", "+op, func(t *testing.T) {
				st := &writesStore{Store: store.NewMemory()}
				h := newHarness(t, st, func(c *Config) {
					c.Limits = RateLimits{}
					c.OTP.ResendCooldown = time.Millisecond
				})
				var flow string
				if op == "resend" {
					var err error
					flow, err = h.e.StartLogin(ctx, IdentifierPhone, number, ClientInfo{IP: "192.0.2.9"})
					noErr(t, "start from elsewhere", err)
					h.clk.Advance(time.Second)
				}
				noErr(t, "filling", st.Set(ctx, tc.key, []byte(fmt.Sprint(tc.full)), time.Hour))
				before := map[string]int{}
				for _, k := range counters {
					before[k] = h.counterOf(t, k)
				}
				sent, writes := h.sender.count(), st.count()
				var err error
				if op == "start" {
					_, err = h.e.StartLogin(ctx, IdentifierPhone, number, from)
				} else {
					err = h.e.RetryLogin(ctx, flow, from)
				}
				wantErr(t, op, err, ErrRateLimited)
				if h.sender.count() != sent {
					t.Fatal("a refused send sent a code")
				}
				for _, w := range st.since(writes) {
					if w[:4] != "incr" && w[:4] != "decr" {
						t.Fatalf("a refused send wrote %q", w)
					}
				}
				for _, k := range counters {
					want := before[k]
					if k == tc.key && k != identFailKey(IdentifierPhone, number) {
						want++ // the refusing counter counts the refusal
					}
					if got := h.counterOf(t, k); got != want {
						t.Errorf("%s holds %d, want %d", k, got, want)
					}
				}
			})
		}
	}
}

// TestIPv6ClientsAreCountedBy48: the budgets count an IPv6 client by its
// /48, so that an attacker's 65,536 /64s are one client; the delays of
// wrong codes stay on one /64, so that a guesser does not slow its
// neighbours.
func TestIPv6ClientsAreCountedBy48(t *testing.T) {
	for ip, want := range map[string][2]string{
		"2001:db8:1:2:3:4:5:6":  {"2001:db8:1::/48", "2001:db8:1:2::/64"},
		"2001:db8:1:ffff::1":    {"2001:db8:1::/48", "2001:db8:1:ffff::/64"},
		"fe80::1%eth0":          {"fe80::/48", "fe80::/64"},
		"::ffff:192.0.2.1":      {"192.0.2.1", "192.0.2.1"},
		"192.0.2.1":             {"192.0.2.1", "192.0.2.1"},
		"not an address":        {"unknown", "unknown"},
		"2001:db8:1:2::1/64":    {"unknown", "unknown"},
		"[2001:db8:1:2::1]:443": {"unknown", "unknown"},
	} {
		if got := [2]string{budgetClient(ip), clientKey(ip)}; got != want {
			t.Errorf("%s: budget %s, delays %s; want %s, %s", ip, got[0], got[1], want[0], want[1])
		}
	}

	ctx := context.Background()
	h := newHarness(t, nil, natDefaults)
	for i := 0; i < 20; i++ {
		_, err := h.e.StartLogin(ctx, IdentifierPhone, fmt.Sprintf("+88216%06d", i), ClientInfo{IP: fmt.Sprintf("2001:db8:1:%x::1", i)})
		noErr(t, "a start from a /64 of the /48", err)
	}
	_, err := h.e.StartLogin(ctx, IdentifierPhone, "+882169999999", ClientInfo{IP: "2001:db8:1:ffff::7"})
	wantErr(t, "a 21st unproven code from another /64 of the same /48", err, ErrRateLimited)
	_, err = h.e.StartLogin(ctx, IdentifierPhone, "+882169999999", ClientInfo{IP: "2001:db8:2::1"})
	noErr(t, "a start from another /48", err)

	guesser := ClientInfo{IP: "2001:db8:5:1::1"}
	strangerFails(t, h, guesser, 11)
	flow, err := h.e.StartLogin(ctx, IdentifierPhone, "+33677777777", ClientInfo{IP: "192.0.2.80"})
	noErr(t, "start", err)
	code := h.sender.last(t).Code
	_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), guesser)
	wantErr(t, "the guesser's /64, delayed", err, ErrRateLimited)
	_, err = h.e.CheckLogin(ctx, flow, code, proofFor(t, newJKT(t)), ClientInfo{IP: "2001:db8:5:2::1"})
	noErr(t, "another /64 of the guesser's /48", err)
}

// TestKnownDevicesShareOneBudget: a known device's codes count in the
// identifier's known-devices budget, not in its address's unproven sends
// (spent by a pumper there); and a device cookie cannot be multiplied
// into more codes, since every device of an identifier shares it.
func TestKnownDevicesShareOneBudget(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, natDefaults)
	nat := ClientInfo{IP: "198.51.100.8"}
	first := h.loginFrom(t, victimPhone, nat)
	noErr(t, "the pumper spent the address", h.st.Set(ctx, clientUnprovenKey(budgetClient(nat.IP)), []byte("20"), time.Hour))
	device := nat
	device.Device = first.tokens.Device
	// Each login with a cookie, checked with a new key, earns a new device.
	for i := 0; i < 10; i++ {
		flow, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
		noErr(t, fmt.Sprintf("a known device's start %d", i), err)
		tokens, err := h.e.CheckLogin(ctx, flow, h.sender.last(t).Code, proofFor(t, newJKT(t)), device)
		noErr(t, "its login", err)
		device.Device = tokens.Device
	}
	_, err := h.e.StartLogin(ctx, IdentifierPhone, victimPhone, device)
	wantErr(t, "the eleventh code of the hour to the known devices", err, ErrRateLimited)
	if n := h.counterOf(t, knownDevicesSendsKey(victimPhone)); n != 11 {
		t.Fatalf("known devices' budget holds %d, want 11", n)
	}
}

// TestStepUpCodesAreNotUnprovenSends: a session's step-up code does not
// wait for a pumper who spent its address's unproven sends.
func TestStepUpCodesAreNotUnprovenSends(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, natDefaults)
	nat := ClientInfo{IP: "198.51.100.9"}
	c := h.loginFrom(t, victimPhone, nat)
	noErr(t, "the pumper spent the address", h.st.Set(ctx, clientUnprovenKey(budgetClient(nat.IP)), []byte("20"), time.Hour))
	tok := h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err := h.e.SendStepOTP(ctx, tok, false, nat)
	noErr(t, "the step-up code", err)
	if n := h.counterOf(t, sessionSendsKey(victimPhone, c.jkt)); n != 1 {
		t.Fatalf("the session key's budget holds %d, want 1", n)
	}
	// Past the session key's budget: refused, and the address's sends hold
	// what they held.
	noErr(t, "spending the session key's", h.st.Set(ctx, sessionSendsKey(victimPhone, c.jkt), []byte("10"), time.Hour))
	sends, sent := h.counterOf(t, clientSendsKey(budgetClient(nat.IP))), h.sender.count()
	tok = h.stepUp(t, c, scopeSMS, nil).ChallengeToken
	_, err = h.e.SendStepOTP(ctx, tok, false, nat)
	wantErr(t, "a step-up code past the session key's budget", err, ErrRateLimited)
	if n := h.counterOf(t, clientSendsKey(budgetClient(nat.IP))); n != sends || h.sender.count() != sent {
		t.Fatalf("a refused step-up code: the address's sends %d→%d, %d codes sent", sends, n, h.sender.count()-sent)
	}
}

// TestCompletedLoginsAreGivenBack: password logins, sign-ups and OAuth
// logins that complete cost their address nothing but its login starts;
// unfinished ones count, ten per ten minutes, but not those of a device
// that logged in before.
func TestCompletedLoginsAreGivenBack(t *testing.T) {
	ctx := context.Background()
	p := newTestProvider()
	h := newHarness(t, nil, natDefaults, withPasswords, withOAuth(p, ""))
	unfinished := clientUnfinishedKey(budgetClient(testClient.IP))
	alice, err := h.signUp(t, "alice@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.counterOf(t, unfinished); n != 0 {
		t.Fatalf("a proven sign-up left %d unfinished logins", n)
	}
	for i := 0; i < 30; i++ {
		if _, err := h.passwordLogin(t, "alice@example.com", goodPassword, ""); err != nil {
			t.Fatalf("password login %d: %v", i, err)
		}
		h.oauthLogin(t, p, &OAuthIdentity{Issuer: "https://idp.test", Subject: fmt.Sprint("user-", i)})
	}
	if n := h.counterOf(t, unfinished); n != 0 {
		t.Fatalf("60 completed logins left %d unfinished", n)
	}
	if n := h.counterOf(t, clientStartsKey(budgetClient(testClient.IP))); n != 61 {
		t.Fatalf("the address's login starts: %d, want 61", n)
	}
	// Unfinished ones: a sign-up never proven, OAuth logins never back from
	// the provider, wrong passwords.
	_, err = h.e.SignUp(ctx, "bob@example.com", goodPassword, testClient)
	noErr(t, "a sign-up", err)
	for i := 0; i < 4; i++ {
		_, err := h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", s256(newSecret()), "S256", appOrigin, testClient)
		noErr(t, "an OAuth start", err)
	}
	for i := 0; i < 5; i++ {
		_, err := h.e.PasswordLogin(ctx, "alice@example.com", "Wrong password 1", testClient)
		wantErr(t, "a wrong password", err, ErrBadCredentials)
	}
	_, err = h.e.BeginOAuth(ctx, "okta", appOrigin+"/app", s256(newSecret()), "S256", appOrigin, testClient)
	wantErr(t, "an eleventh unfinished login", err, ErrRateLimited)
	_, err = h.e.PasswordLogin(ctx, "alice@example.com", goodPassword, ClientInfo{IP: "192.0.2.90"})
	noErr(t, "a password login from another address", err)
	// Alice's device, at the address a guesser spent: not held back.
	if _, err := h.passwordLogin(t, "alice@example.com", goodPassword, alice.tokens.Device); err != nil {
		t.Fatalf("a password login from a known device: %v", err)
	}
}

// to returns the newest message to a destination and how many went there.
func (s *capturingSender) to(dest string) (last otp.Message, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.To == dest {
			last = m
			sent++
		}
	}
	return last, sent
}
