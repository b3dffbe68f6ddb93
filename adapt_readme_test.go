package caddystepup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// readmeCaddyfiles are the README's ```caddyfile blocks.
var readmeCaddyfiles = regexp.MustCompile("(?s)```caddyfile\n(.*?)```")

// TestAdaptREADME adapts every Caddyfile of the README and compares the
// JSON (or the adapter's error, for a block no wrapping makes whole) with
// testdata/adapt/readme.golden, so that a change of the config types or
// the Caddyfile parser that alters what a documented config means shows.
// Run with STEPUP_UPDATE_GOLDEN=1 to rewrite it after a deliberate change.
func TestAdaptREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeCaddyfiles.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no caddyfile block")
	}
	var got strings.Builder
	adapter := caddyconfig.GetAdapter("caddyfile")
	for i, b := range blocks {
		var err error
		fmt.Fprintf(&got, "## block %d\n", i+1)
		// A block that shows a part of a Caddyfile is adapted in the first
		// place that takes it: whole, in a site, in the stepup option.
		var out []byte
		for _, wrap := range []string{"%s", "example.com {\n%s}\n", "{\n\tstepup {\n%s}\n}\n"} {
			if out, _, err = adapter.Adapt(fmt.Appendf(nil, wrap, b[1]), map[string]any{"filename": "README.md"}); err == nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(&got, "error: %v\n", err)
			continue
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, out, "", "\t"); err != nil {
			t.Fatal(err)
		}
		got.WriteString(pretty.String() + "\n")
	}
	const golden = "testdata/adapt/readme.golden"
	if os.Getenv("STEPUP_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("the README's Caddyfiles adapt differently from %s:\n%s", golden, got.String())
	}
}
