package appconfig

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDurationReadsWhatCaddyReads: integers of nanoseconds, and strings
// in time.ParseDuration's syntax with days (`d`) added, as caddy.Duration
// reads them; anything else is refused.
func TestDurationReadsWhatCaddyReads(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`0`:               0,
		`1500000000`:      1500 * time.Millisecond,
		`-5`:              -5,
		`"90s"`:           90 * time.Second,
		`"1h30m"`:         90 * time.Minute,
		`"2d"`:            48 * time.Hour,
		`"1.5d"`:          36 * time.Hour,
		`"1d12h"`:         36 * time.Hour,
		`"0.5d30m"`:       12*time.Hour + 30*time.Minute,
		`"-1d"`:           -24 * time.Hour,
		`"250ms"`:         250 * time.Millisecond,
		`"0"`:             0,
		`"1h1d"`:          25 * time.Hour,
		`"100us"`:         100 * time.Microsecond,
		`"3ns"`:           3,
		`"+2d"`:           48 * time.Hour,
		`"2d2d"`:          96 * time.Hour,
		`"1.25h"`:         75 * time.Minute,
		`"1000000000ns"`:  time.Second,
		`"10.000000001s"`: 10*time.Second + 1,
	} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`""`, `"5"`, `"d"`, `"1x"`, `"1.5"`, `"xd"`, `"1dd"`, `"d1"`, `"1 d"`, `"1e3s"`, `1.5`, `"1s`,
		`true`, `null_`, `{}`, `[]`, `"9999999999h"`, `99999999999999999999`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s was read as %v", in, time.Duration(d))
		}
	}
	if _, err := ParseDuration(string(make([]byte, 1025))); err == nil {
		t.Error("a string of more than 1024 bytes was read")
	}
	var d Duration
	if err := d.UnmarshalJSON(nil); err == nil {
		t.Error("no bytes were read")
	}
}

// TestDurationWritesNanoseconds: a duration is written as an integer of
// nanoseconds, as caddy.Duration is, and read back the same.
func TestDurationWritesNanoseconds(t *testing.T) {
	b, err := json.Marshal(struct {
		D Duration `json:"d,omitempty"`
		Z Duration `json:"z,omitempty"`
	}{D: Duration(90 * time.Second)})
	if err != nil || string(b) != `{"d":90000000000}` {
		t.Fatalf("marshalled %s, %v", b, err)
	}
	var back struct {
		D Duration `json:"d"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.D != Duration(90*time.Second) {
		t.Errorf("read back %v, %v", back.D, err)
	}
}
