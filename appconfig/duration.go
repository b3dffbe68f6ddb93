package appconfig

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Duration is a duration of the config. In JSON it is what Caddy's own
// durations (caddy.Duration) accept, so that a config reads the same
// whichever package declares the field: an integer of nanoseconds, or a
// string ParseDuration reads ("90s", "1h30m", "2d"). It is written back as
// an integer of nanoseconds, as caddy.Duration is.
type Duration time.Duration

// UnmarshalJSON reads an integer of nanoseconds or a quoted duration
// string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return io.EOF
	}
	var dur time.Duration
	var err error
	if b[0] == '"' && b[len(b)-1] == '"' {
		dur, err = ParseDuration(strings.Trim(string(b), `"`))
	} else {
		err = json.Unmarshal(b, &dur)
	}
	*d = Duration(dur)
	return err
}

// ParseDuration reads a duration as time.ParseDuration does, with one
// more unit, `d` (24 hours), as caddy.ParseDuration does: "1d", "1.5d",
// "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > 1024 {
		return 0, fmt.Errorf("parsing duration: input string too long")
	}
	var inNumber bool
	var numStart int
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 'd' {
			days, err := strconv.ParseFloat(s[numStart:i], 64)
			if err != nil {
				return 0, err
			}
			s = s[:numStart] + strconv.FormatFloat(days*24.0, 'f', -1, 64) + "h" + s[i+1:]
			i--
			continue
		}
		if !inNumber {
			numStart = i
		}
		inNumber = (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+'
	}
	return time.ParseDuration(s)
}
