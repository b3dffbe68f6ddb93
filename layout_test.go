package caddystepup

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/caddy-stepup/caddy-stepup"

// roomImports is the layout the README describes: which of the module's own
// packages each plain-Go package may import. Only the Caddy shell (the root
// package) and the tests may import Caddy; a new package needs a line here.
var roomImports = map[string][]string{
	"internal/strictjson": {},
	"internal/urlcheck":   {},
	"jose":                {"internal/strictjson"},
	"jwks":                {"internal/strictjson", "jose"},
	"stepup/store":        {},
	"stepup/otp":          {},
	"stepup/password":     {},
	"stepup/dpop":         {"internal/strictjson", "jose"},
	"stepup":              {"internal/strictjson", "internal/urlcheck", "jose", "jwks", "revocation", "stepup/dpop", "stepup/otp", "stepup/password", "stepup/store"},
	"enforce":             {"apierror", "internal/strictjson", "jwks", "mcp", "resourcemeta", "revocation", "stepup", "stepup/dpop", "stepup/store", "telemetry"},
	"apierror":            {"stepup"},
	"sessionapi":          {"apierror", "enforce", "internal/strictjson", "jwks", "stepup", "stepup/dpop"},
	"adminapi":            {"apierror", "internal/strictjson", "revocation", "signals", "stepup"},
	"oidclogin":           {"internal/strictjson", "jose"},
	"resourcemeta":        {"apierror", "internal/urlcheck"},
	"telemetry":           {"revocation", "signals", "stepup", "stepup/store", "webhooks"},
	"webhooks":            {"internal/urlcheck", "stepup"},
	"signals":             {"apierror", "internal/strictjson", "internal/urlcheck", "jose", "jwks", "revocation", "stepup", "stepup/store"},
	"revocation":          {"stepup/store"},
	"mcp":                 {"internal/strictjson"},
	"appconfig":           {"enforce", "internal/urlcheck", "jose", "resourcemeta", "revocation", "signals", "stepup", "stepup/password", "stepup/store", "webhooks"},
}

// TestLayout checks the module's import graph against roomImports, with the
// go tool's own view of it, so that the rooms stay apart as the code grows.
func TestLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		room := strings.TrimPrefix(strings.TrimPrefix(parts[0], modulePath), "/")
		allowed, planned := roomImports[room]
		if !planned {
			if room != "" && !strings.HasPrefix(room, "tests") && !strings.HasPrefix(room, "bench") && !strings.HasPrefix(room, "internal/") {
				t.Errorf("package %q is not in roomImports; add it with the rooms it may import", room)
			}
			continue
		}
		seen[room] = true
		for _, imp := range strings.Fields(parts[1]) {
			if own, ok := strings.CutPrefix(imp, modulePath+"/"); ok && !slices.Contains(allowed, own) {
				t.Errorf("%s imports %s, which its room may not", room, own)
			}
		}
		for _, dep := range strings.Fields(parts[2]) {
			if strings.HasPrefix(dep, "github.com/caddyserver/") {
				t.Errorf("%s depends on %s: plain-Go packages import no Caddy", room, dep)
				break
			}
		}
	}
	for room := range roomImports {
		if !seen[room] {
			t.Errorf("roomImports names %s, which go list did not find", room)
		}
	}
}

// TestLayoutNamesEveryRootFile: the README's Layout section names every
// file of the root package's directory (sources, tests, scripts, docs), so
// that a file added, split or renamed there is described where readers
// look for it.
func TestLayoutNamesEveryRootFile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(slices.Contains([]string{".go", ".md", ".sh", ".example", ".mod", ".sum"}, filepath.Ext(name)) || name == ".gitignore") {
			continue
		}
		if !regexp.MustCompile(`(^|[\s,(])` + regexp.QuoteMeta(name) + `([\s,):;.]|$)`).MatchString(section) {
			t.Errorf("README.md's Layout does not name %s", name)
		}
	}
}
