package enforce

import (
	"context"
	"testing"

	"github.com/caddy-stepup/caddy-stepup/internal/sessionclient"
)

// BenchmarkProofCheck is the DPoP path's own cost per request: one proof
// (fresh jti each time) verified and recorded in the memory store.
func BenchmarkProofCheck(b *testing.B) {
	key, err := newKeyB()
	if err != nil {
		b.Fatal(err)
	}
	jkt := sessionclient.JKT(key)
	const token = "the.access.token"
	pc := &ProofChecker{Verifier: newChecker(&testing.T{}).Verifier}
	pc.Store = newMemoryB(b)
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = sessionclient.ResourceProof(key, "GET", resourceURL, token, nil)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pc.Check(ctx, proofHeader(proofs[i]), "GET", resourceURL, token, jkt); err != nil {
			b.Fatal(err)
		}
	}
}
