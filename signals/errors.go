package signals

import "errors"

// RFC 8935 §2.4 error codes (and SSF 1.0 §8.1.4.1's invalid_state).
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidKey           = "invalid_key"
	CodeInvalidIssuer        = "invalid_issuer"
	CodeInvalidAudience      = "invalid_audience"
	CodeAuthenticationFailed = "authentication_failed"
	CodeAccessDenied         = "access_denied"
	CodeInvalidState         = "invalid_state"
)

// Refusal is a SET refused, with the RFC 8935 error code and a fixed
// description for the transmitter. The description never quotes the SET.
type Refusal struct {
	Code        string
	Description string
}

func (r *Refusal) Error() string { return "signals: " + r.Code + ": " + r.Description }

func refuse(code, description string) *Refusal { return &Refusal{Code: code, Description: description} }

// ErrUnavailable: the transmitter's keys or the store could not be reached.
// The SET was neither accepted nor refused; the transmitter should retry.
var ErrUnavailable = errors.New("signals: keys or store unavailable")

// Refusals, one per check, so that tests and the audit log can tell them
// apart; the transmitter sees Code and Description.
var (
	ErrBodyTooLarge   = refuse(CodeInvalidRequest, "The SET is larger than the receiver accepts.")
	ErrContentType    = refuse(CodeInvalidRequest, "The request's Content-Type must be application/secevent+jwt.")
	ErrNotCompact     = refuse(CodeInvalidRequest, "The body is not one compact JWS.")
	ErrHeader         = refuse(CodeInvalidRequest, "The SET's protected header is not acceptable.")
	ErrType           = refuse(CodeInvalidRequest, "The SET's typ must be secevent+jwt.")
	ErrClaims         = refuse(CodeInvalidRequest, "The SET's claims are not one strict JSON object of the expected members.")
	ErrForbiddenClaim = refuse(CodeInvalidRequest, "A SET of the Shared Signals Framework carries no sub and no exp.")
	ErrIssuedAt       = refuse(CodeInvalidRequest, "The SET's iat is missing or outside the accepted window.")
	ErrJTI            = refuse(CodeInvalidRequest, "The SET's jti is missing, empty or too long.")
	ErrEvents         = refuse(CodeInvalidRequest, "The SET's events claim must hold exactly one event, an object.")
	ErrEventPayload   = refuse(CodeInvalidRequest, "The event's payload does not conform to its definition.")
	ErrSubject        = refuse(CodeInvalidRequest, "The SET's sub_id is missing or not a subject identifier of its format.")
	ErrIssuer         = refuse(CodeInvalidIssuer, "The SET's iss is not a transmitter of this receiver.")
	ErrAudience       = refuse(CodeInvalidAudience, "The SET's aud does not name this receiver.")
	ErrAlgorithm      = refuse(CodeInvalidKey, "The SET's alg is not one this transmitter may sign with.")
	ErrKey            = refuse(CodeInvalidKey, "No key of the transmitter's JWKS verifies the SET.")
	ErrAuthorization  = refuse(CodeAuthenticationFailed, "The request's Authorization header is not the one agreed for this stream.")
	ErrStream         = refuse(CodeInvalidRequest, "The stream event names another stream.")
	ErrState          = refuse(CodeInvalidState, "The verification event's state is not one this receiver asked for.")
)
