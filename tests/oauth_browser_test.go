package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestOAuthLoginInChromium (issue 12): the demo page, built from
// demo/src, in Debian's Chromium: the real SDK's loginWithOAuth through
// oidc-provider, back into the app, then the step-up to transfer:write and
// one call to the legacy API; and a login started in one browser context,
// whose provider sign-in happens in another, refused at the callback
// (tests/browser/oauth.test.mjs).
func TestOAuthLoginInChromium(t *testing.T) {
	browserDir := requireNodePackages(t, "browser", "playwright-core", "the OAuth browser test")
	requireOIDCHarness(t)
	chromiumPath := os.Getenv("STEPUP_CHROMIUM")
	if chromiumPath == "" {
		chromiumPath = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv(requireNodeEnv) != "" {
			t.Fatalf("no %s (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("no %s", chromiumPath)
	}
	repo, _ := filepath.Abs("..")
	build := exec.Command("demo/build.sh")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("demo/build.sh: %v\n%s", err, out)
	}

	httpsPort := testcaddy.FreePort(t)
	gateway := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	provider := startOIDCProvider(t, "OIDC_GATEWAY_REDIRECT="+gateway+"/v1/session/login/oauth/okta/callback",
		"OIDC_GATEWAY_SECRET="+gatewaySecret)
	codes, api := newOTPReceiver(t), newUpstream(t)
	// The demo comes back to itself (?oauth=okta), its one redirect URI.
	// The provider is trusted with the phone number it verifies, so that
	// the step-up code goes there (trust_verified_identifiers).
	options := fmt.Sprintf(`login oauth okta {
			issuer %s
			client_id stepup-gateway
			client_secret %s
			redirect_uris %s/?oauth=okta
			trust_verified_identifiers
		}
		scope transfer:write {
			direct {
				step verify_sms 5m
				grant_mode single-use
			}
		}`, provider.Issuer, gatewaySecret, gateway)
	site := fmt.Sprintf(`route /api/transfers* {
		stepup transfer:write
		reverse_proxy %s
	}
	root * %s
	file_server`, api.srv.URL, filepath.Join(repo, "demo", "dist"))
	startSDKGatewayAt(t, httpsPort, codes.srv.URL, "store memory", options, site)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "oauth.test.mjs")
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "STEPUP_APP_URL="+gateway+"/?oauth=okta", "STEPUP_CODES_URL="+codes.srv.URL+"/codes",
		"STEPUP_PHONE=+15555550177", "STEPUP_CHROMIUM="+chromiumPath, "STEPUP_ARTIFACTS="+filepath.Join(browserDir, "artifacts", "oauth"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test oauth.test.mjs: %v\n%s\nprovider.mjs:\n%s", err, out, provider.stderr)
	}
	t.Logf("%s", out)
	if n := api.hits.Load(); n != 1 {
		t.Errorf("the legacy API was reached %d times, want 1", n)
	}
}
