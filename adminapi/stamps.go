package adminapi

import (
	"encoding/json"
	"fmt"
)

// Stamp is a management object (as the management calls wrote it into
// apps.stepup, absent or unreadable: a new one) with its times set:
// created_at once, updated_at now.
func Stamp(mgmt json.RawMessage, now string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	_ = json.Unmarshal(mgmt, &out) // absent or as the management calls wrote it
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	if _, ok := out["created_at"]; !ok {
		out["created_at"] = raw(now)
	}
	out["updated_at"] = raw(now)
	return out
}

// WithTimes is a posted document (a JSON object ReadStepUp checked) with
// created_at and updated_at added, as a GET answers it.
func WithTimes(doc json.RawMessage, created, updated string) map[string]any {
	var out map[string]any
	_ = json.Unmarshal(doc, &out)
	if out == nil {
		out = map[string]any{}
	}
	out["created_at"], out["updated_at"] = created, updated
	return out
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("admin config: %v", err))
	}
	return b
}
