package stepup

import "fmt"

// Step keys the gateway runs itself: it sends and checks their codes.
const (
	StepVerifySMS   = "verify_sms"
	StepVerifyEmail = "verify_email"
	// StepVerifyPasskey is proven by a WebAuthn assertion of one of the
	// user's passkeys (step_passkey.go); only with passkeys configured.
	StepVerifyPasskey = "verify_passkey"
)

// stepKind is how one kind of step is proven, and so which endpoint
// completes it. A new kind of step (a TOTP code, a passkey) is one file
// with the flow that proves it, and one entry in builtinSteps.
type stepKind struct {
	// codeTo is the identifier type the step's one-time codes go to
	// (POST /otp, /otp/retry, /otp/check: step_otp.go); "" for other kinds.
	codeTo string
	// byBackend: the step is proven by a verification token the customer's
	// backend signs (POST /stepup/continue: step_custom.go).
	byBackend bool
	// byPasskey: the step is proven by a passkey assertion (POST
	// /stepup/continue with passkey_assertion: step_passkey.go). Its amr
	// depends on the passkey and what its authenticator checked.
	byPasskey bool
	// amr are the RFC 8176 methods proving the step shows. A custom step's
	// come from its verification token.
	amr []string
}

// builtinSteps are the steps the gateway runs itself.
var builtinSteps = map[string]stepKind{
	StepVerifySMS:     {codeTo: IdentifierPhone, amr: methodsSMS},
	StepVerifyEmail:   {codeTo: IdentifierEmail, amr: methodsEmail},
	StepVerifyPasskey: {byPasskey: true},
}

// StepRegistry is every step key an engine can put in a challenge: the
// built-in steps and the configured custom ones.
type StepRegistry struct {
	kinds map[string]stepKind
}

// NewStepRegistry adds the custom step keys (proven by the customer's
// backend) to the built-in steps; verify_passkey only when passkeys are
// configured. A custom key may not take a built-in one's name.
func NewStepRegistry(customKeys []string, passkeys bool) (*StepRegistry, error) {
	r := &StepRegistry{kinds: make(map[string]stepKind, len(builtinSteps)+len(customKeys))}
	for k, v := range builtinSteps {
		if v.byPasskey && !passkeys {
			continue
		}
		r.kinds[k] = v
	}
	for _, k := range customKeys {
		if !ValidKey(k) {
			return nil, fmt.Errorf("custom step %q: letters, digits and . _ : - only", k)
		}
		if _, builtin := builtinSteps[k]; builtin {
			return nil, fmt.Errorf("custom step %q: the gateway runs this step itself", k)
		}
		r.kinds[k] = stepKind{byBackend: true}
	}
	return r, nil
}

// Has reports whether key names a step the engine can run.
func (r *StepRegistry) Has(key string) bool {
	_, ok := r.kinds[key]
	return ok
}

func (r *StepRegistry) kind(key string) (stepKind, bool) {
	k, ok := r.kinds[key]
	return k, ok
}

// unknownStepError says why key is not a step the configuration can
// name.
func unknownStepError(key string) error {
	if _, builtin := builtinSteps[key]; builtin {
		return fmt.Errorf("step %q needs a passkey block (passkeys are off)", key)
	}
	return fmt.Errorf("step %q is neither %s, %s, %s nor a configured custom step", key, StepVerifySMS, StepVerifyEmail, StepVerifyPasskey)
}
