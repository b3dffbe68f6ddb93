package caddystepup

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// errorBody renders the JSON error shape the Prelude SDK parses:
// {"code","message","type"} plus optional extra members.
func errorBody(code, message, typ string, extra map[string]any) []byte {
	m := map[string]any{"code": code, "message": message, "type": typ}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Only strings and maps of strings are passed in; this cannot fail.
		panic(err)
	}
	return b
}

// writeJSON sends a JSON body that must never be cached.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Cache-Control"] = []string{"no-store"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
