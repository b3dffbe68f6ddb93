package benchkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestInboxDeliveries(t *testing.T) {
	tests := []struct {
		name       string
		timed      bool
		path, body string
		wantStatus int
		wantCode   string
		wantTimed  int
	}{
		{"stored, untimed", false, "/send", `{"to":"+15550001","code":"123456"}`, http.StatusNoContent, "123456", 0},
		{"stored, timed", true, "/send", `{"to":"+15550001","code":"654321"}`, http.StatusNoContent, "654321", 1},
		{"wrong path", true, "/other", `{"to":"+15550001","code":"1"}`, http.StatusBadRequest, "", 0},
		{"no destination", true, "/send", `{"code":"1"}`, http.StatusBadRequest, "", 0},
		{"not JSON", true, "/send", `code=1`, http.StatusBadRequest, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var own *Recorder
			if tc.timed {
				own = NewRecorder()
			}
			in := &Inbox{codes: map[string]string{}, ownTimes: own}
			srv := httptest.NewServer(http.HandlerFunc(in.deliver))
			defer srv.Close()
			resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := in.Code("+15550001"); got != tc.wantCode {
				t.Errorf("code = %q, want %q", got, tc.wantCode)
			}
			if own != nil {
				if got := own.Summary(InboxOwnTime).N; got != tc.wantTimed {
					t.Errorf("own times = %d, want %d", got, tc.wantTimed)
				}
			}
		})
	}
}
