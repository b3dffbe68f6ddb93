package signals

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// BenchmarkReceive is what one pushed SET costs the receiver: strict
// parsing, the signature, the decision and its jti marker (memory store).
func BenchmarkReceive(b *testing.B) {
	for _, key := range []*testKey{newECKey(b, "ec"), newRSAKey(b, "rsa")} {
		b.Run(key.alg(), func(b *testing.B) {
			r := newTestReceiver(b, store.NewMemory(), keySource(b, key))
			sets := make([]string, b.N)
			for i := range sets {
				c := claims(EventSessionRevoked, map[string]any{}, map[string]any{"format": "complex",
					"user": map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "u"}, "session": map[string]any{"format": "opaque", "id": "s"}})
				c["jti"] = fmt.Sprintf("bench-%d", i)
				sets[i] = key.sign(c)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Receive(ctx, push(sets[i])); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
