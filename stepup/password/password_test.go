package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var testParams = Params{Time: 1, MemoryKiB: minMemoryKiB, Threads: 1}

func newTestHasher(t *testing.T, p Params, slots int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, slots)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashAndVerify(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, testParams, 0)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("PHC string %q", enc)
	}
	again, _ := h.Hash(ctx, "correct horse battery staple")
	if again == enc {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{
		"correct horse battery staple":  true,
		"correct horse battery staple ": false,
		"Correct horse battery staple":  false,
		"":                              false,
	} {
		ok, stale, err := h.Verify(ctx, pw, enc)
		if err != nil || ok != want || stale {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v", pw, ok, stale, err, want)
		}
	}
	// No user: the dummy hash is verified, and never matches, not even "".
	for _, pw := range []string{"", "x", "correct horse battery staple"} {
		if ok, _, err := h.Verify(ctx, pw, ""); ok || err != nil {
			t.Errorf("Verify(%q, no hash) = %v, %v", pw, ok, err)
		}
	}
	// Longer than MaxBytes: refused at Hash, never matches at Verify.
	long := strings.Repeat("a", MaxBytes+1)
	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash of %d bytes: %v", len(long), err)
	}
	emptyHash, _ := h.Hash(ctx, "")
	if ok, _, _ := h.Verify(ctx, long, emptyHash); ok {
		t.Error("an over-long password matched the hash of the empty one")
	}
}

// TestHashOfOtherParametersVerifiesAndAsksToBeRenewed: a hash made with other parameters verifies, and
// says it should be made again.
func TestHashOfOtherParametersVerifiesAndAsksToBeRenewed(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, testParams, 0)
	enc, _ := old.Hash(ctx, "pw")
	current := newTestHasher(t, Params{Time: 2, MemoryKiB: minMemoryKiB, Threads: 1}, 0)
	if ok, stale, err := current.Verify(ctx, "pw", enc); !ok || !stale || err != nil {
		t.Fatalf("Verify = %v, %v, %v; want a stale match", ok, stale, err)
	}
	if ok, stale, _ := current.Verify(ctx, "other", enc); ok || stale {
		t.Error("a wrong password was reported stale")
	}
}

// TestMalformedHashes: a stored hash is data; one that asks for absurd
// costs or is not this format is refused before any work.
func TestMalformedHashes(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, testParams, 0)
	good, _ := h.Hash(ctx, "pw")
	parts := strings.Split(good, "$")
	for name, enc := range map[string]string{
		"argon2i":          strings.Replace(good, "argon2id", "argon2i", 1),
		"version 16":       strings.Replace(good, "v=19", "v=16", 1),
		"64 GiB":           strings.Replace(good, "m=8192", "m=67108864", 1),
		"1 KiB":            strings.Replace(good, "m=8192", "m=1024", 1),
		"a million passes": strings.Replace(good, "t=1", "t=1000000", 1),
		"255 lanes":        strings.Replace(good, "p=1", "p=255", 1),
		"lanes overflow":   strings.Replace(good, "p=1", "p=257", 1),
		"unknown param":    strings.Replace(good, "p=1", "p=1,x=2", 1),
		"short salt":       strings.Join(append(parts[:4:4], "AAAA", parts[5]), "$"),
		"bad base64":       strings.Join(append(parts[:4:4], parts[4], "!!!!"), "$"),
		"missing part":     strings.Join(parts[:5], "$"),
		"bcrypt":           "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
	} {
		if _, _, err := h.Verify(ctx, "pw", enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (Params{Time: 1, MemoryKiB: 1024, Threads: 1}).Validate(); err == nil {
		t.Error("1 MiB accepted")
	}
}

// TestHashSlots: at most Slots hashes run at once, a bounded number wait,
// the rest are refused, and a waiter leaves when its context ends.
func TestHashSlots(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = h.run(context.Background(), func() { close(started); <-release })
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.run(ctx, func() { t.Error("ran without a slot") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a waiter: %v", err)
	}
	// Fill the waiting room (32 per slot, one taken by the runner).
	var wg sync.WaitGroup
	for i := 0; i < 31; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = h.run(context.Background(), func() {}) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.waiting) < 32 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := h.run(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("past the waiting room: %v", err)
	}
	close(release)
	wg.Wait()
}

// TestDefaultConcurrencyLeavesHalfTheCores: by default the hashes keep at
// most half of GOMAXPROCS busy (each runs Threads lanes), and at least one
// runs.
func TestDefaultConcurrencyLeavesHalfTheCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct{ procs, threads, want int }{
		{1, 1, 1}, {2, 1, 1}, {3, 1, 1}, {4, 1, 2}, {8, 1, 4}, {16, 1, 8},
		{8, 2, 2}, {8, 4, 1}, {8, 8, 1}, {2, 4, 1},
	} {
		runtime.GOMAXPROCS(tc.procs)
		p := Params{Time: 1, MemoryKiB: minMemoryKiB, Threads: uint8(tc.threads)}
		if got := DefaultConcurrency(p); got != tc.want {
			t.Errorf("GOMAXPROCS %d, %d lanes: %d hashes at once, want %d", tc.procs, tc.threads, got, tc.want)
		}
		h, err := NewHasher(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if cap(h.slots) != tc.want || cap(h.waiting) != 32*tc.want {
			t.Errorf("GOMAXPROCS %d, %d lanes: a default Hasher runs %d and queues %d", tc.procs, tc.threads, cap(h.slots), cap(h.waiting))
		}
	}
	h, err := NewHasher(testParams, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cap(h.slots) != 3 {
		t.Errorf("a Hasher told 3 runs %d", cap(h.slots))
	}
}

// TestPolicyCountsAsTheSDK: code points and Unicode categories, as the
// SDK's validatePassword counts them, so that what the SDK says is valid
// the gateway accepts, and the other way round.
func TestPolicyCountsAsTheSDK(t *testing.T) {
	for pw, want := range map[string]Counts{
		"Abc1!":      {Length: 5, Uppercase: 1, Lowercase: 2, Numbers: 1, Symbols: 1},
		"ÉSSß":       {Length: 4, Uppercase: 3, Lowercase: 1},
		"٣٤":         {Length: 2, Numbers: 2},               // Arabic-Indic digits are \p{Nd}
		"👍a":         {Length: 2, Lowercase: 1, Symbols: 1}, // one code point, not two UTF-16 units
		"e\u0301":    {Length: 2, Lowercase: 1, Symbols: 1}, // a combining mark is its own code point
		"ǅ":          {Length: 1, Symbols: 1},               // title case is neither Lu nor Ll
		"中文 ":        {Length: 3, Symbols: 3},
		"Ⅻ":          {Length: 1, Symbols: 1}, // a letter number is not \p{Nd}
		"\u00a0\t\n": {Length: 3, Symbols: 3},
	} {
		got, ok := Count(pw)
		if !ok || got != want {
			t.Errorf("Count(%q) = %+v, want %+v", pw, got, want)
		}
	}
	if _, ok := Count("a\xffb"); ok {
		t.Error("invalid UTF-8 counted")
	}
	p := Policy{MinLength: 8, MaxLength: 12, Uppercase: 1, Lowercase: 1, Numbers: 1, Symbols: 1}
	for pw, want := range map[string]bool{
		"Abcdef1!":      true,
		"Abcdefg1!xyz":  true,
		"Abcdefg1!xyzw": false, // 13
		"Abcde1!":       false, // 7
		"abcdefg1!":     false, // no upper case
		"ABCDEFG1!":     false,
		"Abcdefgh!":     false,
		"Abcdefgh1":     false,
		"Ábcdéfg٣ ":     true, // Unicode classes count
		"Abcdef1!\xff":  false,
	} {
		if p.Allows(pw) != want {
			t.Errorf("Allows(%q) = %v", pw, !want)
		}
	}
	if (Policy{MinLength: 1}).Allows(strings.Repeat("a", MaxBytes+1)) {
		t.Error("an unbounded policy allowed more than MaxBytes")
	}
	for _, bad := range []Policy{{}, {MinLength: 8, MaxLength: 4}, {MinLength: 1, Uppercase: -1}, {MinLength: 4, MaxLength: 4, Uppercase: 3, Numbers: 3}, {MinLength: 1, MaxLength: 10000}} {
		if bad.Validate() == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
}
