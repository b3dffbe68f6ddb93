package caddystepup

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestAdaptGolden adapts each testdata/adapt/*.caddyfiletest (a Caddyfile, a
// line of dashes, then the expected JSON) and compares the JSON. Run with
// STEPUP_UPDATE_GOLDEN=1 to rewrite the expected half after a deliberate
// change.
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatal("missing ---------- separator")
			}
			adapter := caddyconfig.GetAdapter("caddyfile")
			got, warnings, err := adapter.Adapt([]byte(input), map[string]any{"filename": f})
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			for _, w := range warnings {
				if !strings.Contains(w.Message, "not formatted") {
					t.Errorf("warning: %s", w.Message)
				}
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "\t"); err != nil {
				t.Fatal(err)
			}
			if os.Getenv("STEPUP_UPDATE_GOLDEN") != "" {
				_ = os.WriteFile(f, []byte(input+"\n----------\n"+pretty.String()+"\n"), 0o644)
				return
			}
			if strings.TrimSpace(pretty.String()) != strings.TrimSpace(want) {
				t.Errorf("adapted JSON differs.\ngot:\n%s\nwant:\n%s", pretty.String(), want)
			}
		})
	}
}
