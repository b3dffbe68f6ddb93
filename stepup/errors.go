package stepup

import "errors"

// Kind classifies an engine error; the HTTP layer maps each kind to one
// status, in one place.
type Kind int

// Kinds of error.
const (
	KindBadRequest   Kind = iota + 1 // the request is wrong: fix it and retry
	KindUnauthorized                 // no, unknown, expired or reused credentials
	KindForbidden                    // known caller, not allowed
	KindNotFound
	KindConflict    // a single-use item was already used
	KindRateLimited // too many attempts or sends
	KindUnavailable // the store, a hook or a sender failed: nothing was granted
)

// Error is a refusal the client sees as `{"code","message","type"}`. Its
// message never contains a token, code or secret. Errors are compared by
// identity (errors.Is(err, ErrResendTooSoon)): two refusals may share a
// code for the client and still be different refusals.
type Error struct {
	Kind    Kind
	Code    string // the SDK maps its errors from this
	Message string
	// Nonce asks the HTTP layer to answer with a fresh DPoP nonce
	// (use_dpop_nonce).
	Nonce bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// The engine's refusals. Codes are the ones @prelude.so/js-sdk 0.6.0 maps.
var (
	ErrBadRequest           = newError(KindBadRequest, "bad_request", "The request is malformed.")
	ErrInvalidIdentifier    = newError(KindBadRequest, "invalid_identifier", "The identifier is not a valid phone number or email address.")
	ErrNoVerifiedIdentifier = newError(KindBadRequest, "invalid_identifier", "The account has no verified identifier of the kind this step sends its code to.")
	ErrNotConfigured        = newError(KindForbidden, "not_configured", "This feature is not configured on this gateway.")
	ErrBadCheckCode         = newError(KindBadRequest, "bad_check_code", "The code is wrong or expired.")
	ErrNoLoginFlow          = newError(KindBadRequest, "bad_request", "No login is in progress: start again.")
	ErrRateLimited          = newError(KindRateLimited, "rate_limited", "Too many attempts: wait and try again.")
	ErrResendTooSoon        = newError(KindRateLimited, "rate_limited", "A code was just sent: wait a little before asking for another.")
	ErrUnauthorized         = newError(KindUnauthorized, "unauthorized", "The credentials are missing, invalid or expired.")
	ErrMissingDPoP          = newError(KindBadRequest, "missing_dpop_proof", "A DPoP proof is required.")
	ErrInvalidDPoP          = newError(KindBadRequest, "invalid_dpop_proof", "The DPoP proof is invalid.")
	ErrDPoPKeyMismatch      = newError(KindBadRequest, "dpop_key_mismatch", "The DPoP key is not the one this session is bound to.")
	ErrInvalidPagination    = newError(KindBadRequest, "invalid_pagination_limit", "limit must be between 1 and 100.")
	ErrInvalidOffset        = newError(KindBadRequest, "invalid_pagination_offset", "offset must be 0 or more.")
	ErrSessionNotFound      = newError(KindNotFound, "not_found", "No such session.")
	ErrUnavailable          = newError(KindUnavailable, "internal", "The service is temporarily unavailable.")
	ErrBusy                 = newError(KindUnavailable, "internal", "Too many logins are in progress: try again in a few minutes.")
	ErrUseDPoPNonce         = &Error{Kind: KindBadRequest, Code: "use_dpop_nonce", Message: "Use the DPoP nonce in the DPoP-Nonce header.", Nonce: true}
	ErrScopeNotAllowed      = newError(KindForbidden, "scope_not_allowed", "This scope cannot be requested.")
	ErrInvalidMetadata      = newError(KindBadRequest, "invalid_metadata", "metadata: at most 5 string values, keys up to 12 and values up to 32 characters; a resource must be one a route names.")
	ErrInvalidChallenge     = newError(KindBadRequest, "invalid_challenge_token", "The challenge token is invalid.")
	ErrExpiredChallenge     = newError(KindBadRequest, "expired_challenge_token", "The challenge has expired: request the step-up again.")
	ErrStepNotCompleted     = newError(KindBadRequest, "step_not_completed", "The challenge has steps left to complete.")
	ErrStepNotFound         = newError(KindBadRequest, "step_not_found", "This step is not part of the challenge.")
	ErrStepBypassed         = newError(KindBadRequest, "step_bypassed", "Steps must be completed in order.")
	ErrTokenReused          = newError(KindConflict, "token_reused", "This token was already used.")
	ErrTokenMismatch        = newError(KindBadRequest, "token_mismatch", "The token does not belong to this challenge.")
	ErrInvalidVerification  = newError(KindBadRequest, "invalid_verification_token", "The verification token is invalid.")
	ErrHookFailed           = newError(KindUnavailable, "hook_failed", "The step-up decision could not be obtained: try again later.")
	ErrTooManyChallenges    = newError(KindRateLimited, "rate_limited", "Too many step-up challenges are open: finish or wait for one.")
	ErrBadCredentials       = newError(KindUnauthorized, "unauthorized", "The email address or the password is wrong.")
	ErrInvalidPassword      = newError(KindBadRequest, "invalid_password", "The password does not meet the password policy.")
	ErrIdentifierExists     = newError(KindConflict, "identifier_already_exists", "An account with this email address already has a password: log in instead.")
	ErrInvalidLoginTicket   = newError(KindBadRequest, "invalid_challenge_token", "The login is unknown, expired or already finished: start again.")
)

// Refusals of passkey calls, with the codes of Prelude's mobile SDKs 0.7
// (prelude-passkeys.md §10.7). None is a 401 on a route that takes an
// access token: a 401 makes the SDKs refresh and send again.
var (
	ErrPasskeyNotConfigured   = newError(KindForbidden, "passkey_not_configured", "Passkeys are not configured on this gateway.")
	ErrInsufficientScope      = newError(KindForbidden, "insufficient_scope", "This needs the prld:passkey:write scope, which a step-up just before grants: request it, then try again.")
	ErrPasskeyRegistration    = newError(KindBadRequest, "passkey_registration_failed", "The passkey could not be registered: the registration is unknown, expired or spent, or the authenticator's answer is not valid for it.")
	ErrTooManyPasskeys        = newError(KindForbidden, "passkey_registration_failed", "This account holds as many passkeys as it may: delete one first.")
	ErrPasskeyBlocked         = newError(KindForbidden, "passkey_authenticator_blocked", "This authenticator is not accepted here.")
	ErrPasskeyStepUnavailable = newError(KindBadRequest, "passkey_step_unavailable", "The passkey step cannot be done: the account has no passkey for this site.")
	ErrPasskeyAssertion       = newError(KindBadRequest, "passkey_step_unavailable", "The passkey's answer could not be verified for this step.")
	ErrPasskeyNotFound        = newError(KindNotFound, "not_found", "No such passkey.")
	ErrPasskeyLoginFailed     = newError(KindUnauthorized, "unauthorized", "The passkey could not be verified.")
	ErrPasskeyLoginGone       = newError(KindUnauthorized, "unauthorized", "The passkey login is unknown, expired or already finished: start again.")
)

// unavailable wraps a store or sender failure: the client sees `internal`,
// the log sees the cause.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() error { return e.cause }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

func unavailable(cause error) error { return &unavailableError{cause: cause} }

// AsError returns the client-facing error for err: err itself when it is an
// *Error, ErrUnavailable for everything else (fail closed).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrUnavailable
}
