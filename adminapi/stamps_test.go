package adminapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStamp keeps created_at once set and moves updated_at, keeping the
// object's other members; an absent or unreadable object starts anew.
func TestStamp(t *testing.T) {
	got := Stamp(json.RawMessage(`{"key":"k","created_at":"2026-01-01T00:00:00Z","updated_at":"x"}`), "2026-12-08T00:00:00Z")
	want := map[string]json.RawMessage{"key": json.RawMessage(`"k"`), "created_at": json.RawMessage(`"2026-01-01T00:00:00Z"`),
		"updated_at": json.RawMessage(`"2026-12-08T00:00:00Z"`)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s", got)
	}
	for _, mgmt := range []string{"", "null", "[1]"} {
		got := Stamp(json.RawMessage(mgmt), "now")
		if len(got) != 2 || string(got["created_at"]) != `"now"` || string(got["updated_at"]) != `"now"` {
			t.Fatalf("%q: %s", mgmt, got)
		}
	}
}

// TestWithTimes adds both times to the document, or to an empty one.
func TestWithTimes(t *testing.T) {
	got := WithTimes(json.RawMessage(`{"allowed_scopes":["a"],"created_at":"old"}`), "c", "u")
	if !reflect.DeepEqual(got, map[string]any{"allowed_scopes": []any{"a"}, "created_at": "c", "updated_at": "u"}) {
		t.Fatalf("%v", got)
	}
	if got := WithTimes(nil, "c", "u"); !reflect.DeepEqual(got, map[string]any{"created_at": "c", "updated_at": "u"}) {
		t.Fatalf("%v", got)
	}
}
