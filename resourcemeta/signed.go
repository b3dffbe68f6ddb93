package resourcemeta

import "errors"

// signedClaims are the claims of signed metadata: the document's members
// and the party that attests to them.
type signedClaims struct {
	Document
	Issuer string `json:"iss"`
}

// Sign sets doc's signed_metadata (RFC 9728 §2.2): a JWT whose claims are
// doc's members as they stand, and `iss`, the party attesting to them,
// signed by sign (which marshals the claims and returns a compact JWS).
// The plain members stay: a client that does not read signed metadata
// uses them, and one that does finds the same values in the claims, which
// take precedence. No signed_metadata is a claim (§2: it SHOULD NOT be).
func Sign(doc *Document, issuer string, sign func(claims any) (string, error)) error {
	if issuer == "" {
		return errors.New("resourcemeta: signed metadata needs an issuer")
	}
	doc.SignedMetadata = ""
	jwt, err := sign(signedClaims{Document: *doc, Issuer: issuer})
	if err != nil {
		return err
	}
	doc.SignedMetadata = jwt
	return nil
}
