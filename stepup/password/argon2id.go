package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams is OWASP's first argon2id setting (Password Storage Cheat
// Sheet): 46 MiB, one pass, one lane; about 50 ms on one core of the
// machine BENCHMARKS.md describes.
var DefaultParams = Params{Time: 1, MemoryKiB: 46 * 1024, Threads: 1}

// Bounds of Params, and of what a stored hash may ask for: a hash is data
// from the store, and must not make a verification cost a gigabyte.
const (
	minMemoryKiB = 8 * 1024
	maxMemoryKiB = 1024 * 1024
	maxTime      = 10
	maxThreads   = 16
	saltLen      = 16
	keyLen       = 32
	// MaxBytes bounds what is hashed: longer input is refused before any
	// work, whatever the policy.
	MaxBytes = 1024
)

// Validate checks p against the bounds.
func (p Params) Validate() error {
	if p.Time < 1 || p.Time > maxTime || p.MemoryKiB < minMemoryKiB || p.MemoryKiB > maxMemoryKiB || p.Threads < 1 || p.Threads > maxThreads {
		return fmt.Errorf("argon2id: time 1 to %d, memory %d MiB to %d GiB, threads 1 to %d",
			maxTime, minMemoryKiB/1024, maxMemoryKiB/1024/1024, maxThreads)
	}
	return nil
}

// Errors of Hasher.
var (
	ErrBusy      = errors.New("password: too many hashes waiting")
	ErrTooLong   = errors.New("password: longer than MaxBytes")
	ErrMalformed = errors.New("password: not an argon2id hash of this package")
)

// Hasher hashes and verifies passwords, at most a fixed number at once.
type Hasher struct {
	params  Params
	slots   chan struct{}
	waiting chan struct{}
	dummy   string // a hash of nothing, verified when there is no user
}

// DefaultConcurrency is how many hashes of p run at once unless told
// otherwise: as many as keep half of GOMAXPROCS busy (each hash runs
// p.Threads lanes in parallel), at least one. A burst of logins then
// leaves the other half to everything else the process serves (every
// core hashing slows every request; BENCHMARKS.md measures a route that
// verifies tokens during a burst of logins, with and without the bound).
func DefaultConcurrency(p Params) int {
	return max(1, runtime.GOMAXPROCS(0)/2/max(1, int(p.Threads)))
}

// NewHasher returns a Hasher with params that runs at most concurrency
// hashes at once (<= 0: DefaultConcurrency). At most 32 callers per slot
// wait for one (about 1.6 s of waiting at the default cost); more get
// ErrBusy.
func NewHasher(params Params, concurrency int) (*Hasher, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency(params)
	}
	h := &Hasher{params: params, slots: make(chan struct{}, concurrency), waiting: make(chan struct{}, 32*concurrency)}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	h.dummy = encode(params, salt, argon2.IDKey(nil, salt, params.Time, params.MemoryKiB, params.Threads, keyLen))
	return h, nil
}

// Hash returns the PHC string of a new hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxBytes {
		return "", ErrTooLong
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	var key []byte
	err := h.run(ctx, func() {
		key = argon2.IDKey([]byte(pw), salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, keyLen)
	})
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether pw matches encoded, and whether encoded was made
// with other parameters than the Hasher's (hash pw again and store it).
// An empty encoded (no such user, or no password) costs the same as a
// real one and never matches.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, stale bool, err error) {
	tooLong := len(pw) > MaxBytes
	if tooLong {
		pw = "" // still spend the time: the answer must not tell lengths apart
	}
	missing := encoded == ""
	if missing {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	var got []byte
	if err := h.run(ctx, func() { got = argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want))) }); err != nil {
		return false, false, err
	}
	match := subtle.ConstantTimeCompare(got, want) == 1 && !missing && !tooLong
	return match, match && p != h.params, nil
}

// run waits for a slot (or ctx, or refuses when too many wait) and runs f.
func (h *Hasher) run(ctx context.Context, f func()) error {
	select {
	case h.waiting <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-h.waiting }()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	f()
	return nil
}

var b64 = base64.RawStdEncoding

// encode writes $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<key>.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode reads what encode writes, within the Params bounds.
func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return Params{}, nil, nil, ErrMalformed
		}
		switch name {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > maxThreads {
				return Params{}, nil, nil, ErrMalformed
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformed
		}
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if p.Validate() != nil || err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
