package jwks

// tokenError is a reason a token was refused. It unwraps to ErrInvalidToken,
// so callers test errors.Is(err, ErrInvalidToken); the text names the rule
// for debug logs and never contains token bytes. Being a constant string it
// costs no allocation on the refusal path.
type tokenError string

func (e tokenError) Error() string { return "jwks: invalid token: " + string(e) }
func (e tokenError) Unwrap() error { return ErrInvalidToken }

// Is lets an expiry refusal also match ErrExpired.
func (e tokenError) Is(target error) bool { return target == ErrExpired && e == errExpired }

const (
	errEmpty           tokenError = "empty"
	errOversize        tokenError = "larger than the size cap"
	errNotCompact      tokenError = "not a compact JWS with three parts"
	errBase64          tokenError = "bad base64url"
	errMalformedHeader tokenError = "malformed header"
	errAlg             tokenError = "alg missing or not allowed"
	errCrit            tokenError = "crit present"
	errNotJWS          tokenError = "JWE or unsupported JWS encoding"
	errNested          tokenError = "nested token"
	errTyp             tokenError = "typ not accepted"
	errKidType         tokenError = "kid not a string"
	errMalformedClaims tokenError = "malformed claims"
	errClaimType       tokenError = "registered claim of the wrong type"
	errScopeNotString  tokenError = "scope not a string"
	errSubject         tokenError = "sub missing or empty"
	errExpMissing      tokenError = "exp missing or not positive"
	errExpired         tokenError = "expired"
	errNotYetValid     tokenError = "nbf or iat in the future"
	errIssuer          tokenError = "issuer not accepted"
	errAudience        tokenError = "audience not accepted"
	errKeyAlg          tokenError = "alg does not match the key"
	errSignature       tokenError = "bad signature"
)
