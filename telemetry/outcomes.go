package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Outcome is how a stepup handler answered a request: it passed, or the
// refusal it got. Every refusal is built with one (the enforcement answers
// take it as an argument), and outcomeLabels names each: a new refusal
// cannot go uncounted or count under another's label.
type Outcome uint8

// The zero Outcome is none: Count ignores it.
const (
	_ Outcome = iota
	Pass
	NoToken
	BadRequest
	InvalidToken
	Unavailable
	BodyTooLarge
	InvalidDPoPProof
	UseDPoPNonce
	StepUpRequired
	InsufficientUserAuthentication
	Forbidden
	BadMessage
	Revoked
	InsufficientAuthorization
	numOutcomes
)

// outcomeLabels are the outcome label values of
// caddy_stepup_enforcement_decisions_total (TestEveryOutcomeHasALabel).
var outcomeLabels = [numOutcomes]string{
	Pass:                           "pass",
	NoToken:                        "no_token",
	BadRequest:                     "bad_request",
	InvalidToken:                   "invalid_token",
	Unavailable:                    "unavailable",
	BodyTooLarge:                   "body_too_large",
	InvalidDPoPProof:               "invalid_dpop_proof",
	UseDPoPNonce:                   "use_dpop_nonce",
	StepUpRequired:                 "step_up_required",
	InsufficientUserAuthentication: "insufficient_user_authentication",
	Forbidden:                      "forbidden",
	BadMessage:                     "bad_message",
	Revoked:                        "revoked",
	InsufficientAuthorization:      "insufficient_authorization",
}

// String is the outcome's label value ("" for none).
func (o Outcome) String() string {
	if o >= numOutcomes {
		return ""
	}
	return outcomeLabels[o]
}

// Decisions are one route's decision counters, one per outcome, resolved
// (and preset at zero) when the route is set up, so that a request costs
// one atomic add. A handler keeps them by value: counting is then one load
// from the handler and the add.
type Decisions struct {
	counters [numOutcomes]prometheus.Counter
}

// NewDecisions resolves the counters of a route requiring scope (its
// required scopes, space-delimited; "" is labelled "none").
func NewDecisions(scope string) Decisions {
	if scope == "" {
		scope = "none"
	}
	var d Decisions
	for o := Pass; o < numOutcomes; o++ {
		d.counters[o] = decisions.WithLabelValues(outcomeLabels[o], scope)
	}
	return d
}

// Count counts one decision.
func (d *Decisions) Count(o Outcome) {
	if o > 0 && o < numOutcomes {
		d.counters[o].Inc()
	}
}
