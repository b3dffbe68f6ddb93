package sessionclient

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"strings"
	"time"
)

// ResourceProof builds the DPoP proof of a call to a protected resource
// with a DPoP-bound access token (RFC 9449 §4.2, §7): ES256 with the public
// key in the header, a fresh jti, htm, htu without query or fragment, iat
// now, and ath, the hash of the token. mutate, when set, may change the
// header and claims before signing.
func ResourceProof(key *ecdsa.PrivateKey, method, url, accessToken string, mutate func(header, claims map[string]any)) string {
	if i := strings.IndexAny(url, "?#"); i >= 0 {
		url = url[:i]
	}
	sum := sha256.Sum256([]byte(accessToken))
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(key)}
	claims := map[string]any{"jti": randomID(), "htm": method, "htu": url, "iat": time.Now().Unix(), "ath": b64.EncodeToString(sum[:])}
	if mutate != nil {
		mutate(header, claims)
	}
	return SignES256(key, header, claims)
}

// JKT is the RFC 7638 SHA-256 thumbprint of key's public half, as cnf.jkt
// names it.
func JKT(key *ecdsa.PrivateKey) string {
	jwk := publicJWK(key)
	canonical := `{"crv":"P-256","kty":"EC","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64.EncodeToString(sum[:])
}

func publicJWK(key *ecdsa.PrivateKey) map[string]string {
	point, err := key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(point[1:33]), "y": b64.EncodeToString(point[33:])}
}
