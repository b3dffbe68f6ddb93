package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/redistest"
	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

const ssfStreamToken = "Bearer stream-token-5e1d0c9b"

// streamGateways are n gateways on one store (memory for one, a Redis for
// two) receiving tr's SETs at /ssf/events, with its stream management API
// configured.
func streamGateways(t *testing.T, tr *ssfTransmitter, n int) (bases []string, instances []*testcaddy.Instance) {
	t.Helper()
	store := ""
	if n > 1 {
		store = "store redis redis://" + redistest.Start(t).Addr + "/0"
	}
	keyFile := sharedSigningKey(t)
	for i := 0; i < n; i++ {
		base := fmt.Sprintf("http://127.0.0.1:%d", testcaddy.FreePort(t))
		inst := testcaddy.Start(t, testcaddy.Config{
			Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %[4]s
		signing_key %[2]s
		%[3]s
	}
}

%[1]s {
	stepup_signals /ssf/events {
		transmitter %[5]s {
			jwks_url %[5]sjwks.json
			audience %[6]s
			algorithms RS256
			stream_id stream-1
			configuration_url %[5]s.well-known/ssf-configuration
			stream_authorization {env.SSF_STREAM_TOKEN}
		}
	}
	respond 404
}
`, base, keyFile, store, gatewayIssuer, tr.issuer, ssfAudience),
			Env:     []string{"SSF_STREAM_TOKEN=" + ssfStreamToken},
			WaitFor: []string{base + "/"},
		})
		bases, instances = append(bases, base), append(instances, inst)
	}
	return bases, instances
}

// TestSSFStreamManagementThroughTheBuiltCaddy: the admin API asks the
// transmitter (ours, written from SSF 1.0) for a verification event; the
// event, pushed to whichever instance shares the store, is accepted once
// and recorded; the stream's status is read from the transmitter and from
// its stream-updated events; a transmitter that fails fails the call
// without a word of the credential.
func TestSSFStreamManagementThroughTheBuiltCaddy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		instances int
	}{{"memory", 1}, {"redis", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newSSFTransmitter(t)
			tr.streamID, tr.streamToken, tr.streamStatus = "stream-1", ssfStreamToken, "enabled"
			bases, instances := streamGateways(t, tr, tc.instances)
			last := len(bases) - 1 // the instance the transmitter pushes to
			client := newClient(t)
			admin := func(i int, method, what string) answer {
				u := fmt.Sprintf("http://127.0.0.1:%d/stepup/signals/%s/%s", instances[i].AdminPort, url.PathEscape(tr.issuer), what)
				return fetch(t, client, method, u, nil)
			}
			stream := func(i int) map[string]any {
				t.Helper()
				a := admin(i, "GET", "stream")
				var out map[string]any
				if a.status != 200 || json.Unmarshal(a.body, &out) != nil {
					t.Fatalf("GET stream: %d %s", a.status, a.body)
				}
				return out
			}
			stateSET := func(state string) string {
				return tr.sign(tr.set(ssfAudience, ssf+"verification", map[string]any{"state": state},
					map[string]any{"format": "opaque", "id": "stream-1"}))
			}

			out := stream(0)
			remote, _ := out["transmitter_status"].(map[string]any)
			if out["status"] != "enabled" || out["verified_at"] != nil || remote["status"] != "enabled" || remote["stream_id"] != "stream-1" {
				t.Fatalf("before: %v", out)
			}

			a := admin(0, "POST", "verify")
			if a.status != http.StatusAccepted || len(tr.lastState()) < 40 {
				t.Fatalf("verify: %d %s (state %q)", a.status, a.body, tr.lastState())
			}
			state := tr.lastState()
			if p := tr.push(t, bases[last]+"/ssf/events", stateSET(state)); p.status != http.StatusAccepted {
				t.Fatalf("the verification event: %+v", p)
			}
			if out := stream(0); out["verified_at"] == nil {
				t.Fatalf("after the verification event: %v", out)
			}
			// The state again (a new SET), and a state never asked for.
			for _, s := range []string{state, state + "x"} {
				if p := tr.push(t, bases[0]+"/ssf/events", stateSET(s)); p.status != 400 || p.err != "invalid_state" {
					t.Fatalf("state %q: %+v", s, p)
				}
			}

			// The transmitter disables the stream: recorded, and said by
			// the transmitter.
			tr.mu.Lock()
			tr.streamStatus = "disabled"
			tr.mu.Unlock()
			updated := tr.sign(tr.set(ssfAudience, ssf+"stream-updated", map[string]any{"status": "disabled", "reason": "maintenance"},
				map[string]any{"format": "opaque", "id": "stream-1"}))
			if p := tr.push(t, bases[last]+"/ssf/events", updated); p.status != http.StatusAccepted {
				t.Fatalf("stream-updated: %+v", p)
			}
			out = stream(0)
			remote, _ = out["transmitter_status"].(map[string]any)
			if out["status"] != "disabled" || out["reason"] != "maintenance" || remote["status"] != "disabled" {
				t.Fatalf("disabled: %v", out)
			}

			// A transmitter that fails: 502, the state forgotten.
			for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
				tr.mu.Lock()
				tr.verifyStatus = status
				tr.mu.Unlock()
				a := admin(0, "POST", "verify")
				if a.status != http.StatusBadGateway || a.code != "transmitter_failed" || strings.Contains(string(a.body), "stream-token") {
					t.Fatalf("a transmitter answering %d: %d %s", status, a.status, a.body)
				}
				if p := tr.push(t, bases[last]+"/ssf/events", stateSET(tr.lastState())); p.err != "invalid_state" {
					t.Fatalf("the state of a failed request: %+v", p)
				}
			}
			// An unknown transmitter.
			u := fmt.Sprintf("http://127.0.0.1:%d/stepup/signals/%s/verify", instances[0].AdminPort, url.PathEscape("https://other.example/"))
			if a := fetch(t, client, "POST", u, nil); a.status != http.StatusNotFound {
				t.Fatalf("an unknown transmitter: %d %s", a.status, a.body)
			}
			for _, inst := range instances {
				if strings.Contains(inst.Log(), "stream-token") {
					t.Fatal("the stream credential in caddy's log")
				}
			}
		})
	}
}
