package apierror

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup"
)

func TestEveryEngineKindHasOneStatus(t *testing.T) {
	for k, want := range map[stepup.Kind]int{
		stepup.KindBadRequest: 400, stepup.KindUnauthorized: 401, stepup.KindForbidden: 403, stepup.KindNotFound: 404,
		stepup.KindConflict: 409, stepup.KindRateLimited: 429, stepup.KindUnavailable: 503, stepup.Kind(99): 503,
	} {
		if got := FromEngine(k).Status(); got != want {
			t.Errorf("engine kind %d: %d, want %d", k, got, want)
		}
	}
	if MethodNotAllowed.Status() != 405 || TooLarge.Status() != 413 {
		t.Error("HTTP-only kinds")
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, RateLimited.Status(), Body(RateLimited, "rate_limited", "Wait.", map[string]any{"error": "x"}))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Cache-Control") != "no-store" ||
		rec.Header().Get("Content-Type") != "application/json" || body["type"] != "rate_limited" || body["error"] != "x" {
		t.Fatalf("%d %v %v", rec.Code, rec.Header(), body)
	}
}
