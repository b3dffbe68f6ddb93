package signals

import (
	"slices"

	"github.com/caddy-stepup/caddy-stepup/internal/strictjson"
	"github.com/caddy-stepup/caddy-stepup/jose"
)

// Event type URIs the receiver acts on (CAEP 1.0 §3, RISC 1.0 §2,
// SSF 1.0 §8.1.4 and §8.1.5).
const (
	caepBase = "https://schemas.openid.net/secevent/caep/event-type/"
	riscBase = "https://schemas.openid.net/secevent/risc/event-type/"
	ssfBase  = "https://schemas.openid.net/secevent/ssf/event-type/"

	EventSessionRevoked       = caepBase + "session-revoked"
	EventCredentialChange     = caepBase + "credential-change"
	EventAssuranceLevelChange = caepBase + "assurance-level-change"
	EventAccountDisabled      = riscBase + "account-disabled"
	EventAccountPurged        = riscBase + "account-purged"
	EventSessionsRevoked      = riscBase + "sessions-revoked"
	EventCredentialCompromise = riscBase + "credential-compromise"
	EventVerification         = ssfBase + "verification"
	EventStreamUpdated        = ssfBase + "stream-updated"
)

// Action is what an event asks of the gateway.
type Action int

// Actions.
const (
	// ActionNone: the event is accepted and changes nothing (an event type
	// the receiver does not act on, an assurance level that went up).
	ActionNone Action = iota
	// ActionRevokeAccess: the subject's (or the session's) tokens are
	// refused from now on and its gateway sessions end.
	ActionRevokeAccess
	// ActionEndSessions: the user's gateway sessions end.
	ActionEndSessions
	// ActionDropStepUps: the user's grants and session-bound scopes are
	// revoked, and the tokens carrying them refused, so that the next
	// request that needs one steps up again.
	ActionDropStepUps
	// ActionVerification: a verification event (SSF 1.0 §8.1.4): the
	// stream works.
	ActionVerification
	// ActionStreamUpdated: the transmitter changed the stream's status
	// (SSF 1.0 §8.1.5).
	ActionStreamUpdated
)

// Decision is what one accepted SET asks of the gateway.
type Decision struct {
	// Event is the event type URI; Name its short form for logs
	// ("caep.session-revoked"), "other" for event types not acted on.
	Event string
	Name  string
	// Action, on Targets (ActionRevokeAccess, ActionEndSessions,
	// ActionDropStepUps).
	Action  Action
	Targets Targets
	// State is a verification event's state ("" when absent).
	State string
	// Status and Reason are a stream-updated event's.
	Status string
	Reason string
	// StreamID is the sub_id of a verification or stream-updated event.
	StreamID string
}

// eventRule is how one event type is checked and acted on.
type eventRule struct {
	name   string
	action Action
	// sessionScoped: a subject naming a session means that session
	// (session-revoked); otherwise a complex subject means its user.
	sessionScoped bool
	// check validates the payload's event-specific members.
	check func(m strictjson.Members, d *Decision) error
}

var eventRules = map[string]eventRule{
	EventSessionRevoked:       {name: "caep.session-revoked", action: ActionRevokeAccess, sessionScoped: true},
	EventCredentialChange:     {name: "caep.credential-change", action: ActionEndSessions, check: checkCredentialChange},
	EventAssuranceLevelChange: {name: "caep.assurance-level-change", action: ActionDropStepUps, check: checkAssuranceChange},
	EventAccountDisabled:      {name: "risc.account-disabled", action: ActionRevokeAccess, check: checkAccountDisabled},
	EventAccountPurged:        {name: "risc.account-purged", action: ActionRevokeAccess},
	EventSessionsRevoked:      {name: "risc.sessions-revoked", action: ActionRevokeAccess},
	EventCredentialCompromise: {name: "risc.credential-compromise", action: ActionRevokeAccess, check: checkCredentialCompromise},
	EventVerification:         {name: "ssf.verification", action: ActionVerification, check: checkVerification},
	EventStreamUpdated:        {name: "ssf.stream-updated", action: ActionStreamUpdated, check: checkStreamUpdated},
}

// decide checks the one event's payload against its definition and says
// what it asks. Members every CAEP event may carry (event_timestamp,
// initiating_entity, reason_admin, reason_user) are checked for type when
// present; unknown members are ignored (SSF 1.0 §4.2.3).
func decide(event string, payload strictjson.Value, subject *Subject, t *Transmitter) (*Decision, error) {
	if payload.Kind != strictjson.Object {
		return nil, ErrEvents
	}
	m, err := strictjson.ParseObject(payload.Raw)
	if err != nil {
		return nil, ErrEvents
	}
	rule, known := eventRules[event]
	if !known {
		return &Decision{Event: event, Name: "other", Action: ActionNone}, nil
	}
	if err := checkCommonMembers(m); err != nil {
		return nil, err
	}
	d := &Decision{Event: event, Name: rule.name, Action: rule.action}
	if rule.check != nil {
		if err := rule.check(m, d); err != nil {
			return nil, err
		}
	}
	switch d.Action {
	case ActionVerification, ActionStreamUpdated:
		// The subject of a stream event is the stream (SSF 1.0 §8.1.4.1).
		if subject.Format != "opaque" {
			return nil, ErrSubject
		}
		d.StreamID = subject.ID
		if t.StreamID != "" && d.StreamID != t.StreamID {
			return nil, ErrStream
		}
	case ActionRevokeAccess, ActionEndSessions, ActionDropStepUps:
		d.Targets = t.targets(subject, rule.sessionScoped)
	}
	return d, nil
}

// initiatingEntities are CAEP 1.0 §2's values.
var initiatingEntities = map[string]bool{"admin": true, "user": true, "policy": true, "system": true}

func checkCommonMembers(m strictjson.Members) error {
	if _, _, err := jose.NumericDate(m, "event_timestamp"); err != nil {
		return ErrEventPayload
	}
	if v, present, err := jose.String(m, "initiating_entity"); err != nil || (present && !initiatingEntities[v]) {
		return ErrEventPayload
	}
	for _, name := range []string{"reason_admin", "reason_user"} {
		if v, ok := m[name]; ok && !isStringMap(v) {
			return ErrEventPayload
		}
	}
	return nil
}

// isStringMap reports whether v is a non-empty object of strings (a
// localized message: language tag → text).
func isStringMap(v strictjson.Value) bool {
	if v.Kind != strictjson.Object {
		return false
	}
	m, err := strictjson.ParseObject(v.Raw)
	if err != nil || len(m) == 0 {
		return false
	}
	for _, item := range m {
		if item.Kind != strictjson.String {
			return false
		}
	}
	return true
}

// requiredString reads a member the event's definition requires.
func requiredString(m strictjson.Members, name string) (string, error) {
	v, present, err := jose.String(m, name)
	if err != nil || !present || v == "" {
		return "", ErrEventPayload
	}
	return v, nil
}

// checkCredentialChange: credential_type and change_type are required
// (CAEP 1.0 §3.3.1). Every change ends the user's gateway sessions: a
// credential created by whoever holds the account is as much a reason as
// one revoked.
func checkCredentialChange(m strictjson.Members, _ *Decision) error {
	if _, err := requiredString(m, "credential_type"); err != nil {
		return err
	}
	change, err := requiredString(m, "change_type")
	if err != nil {
		return err
	}
	switch change {
	case "create", "revoke", "update", "delete":
		return nil
	}
	return ErrEventPayload
}

// checkAssuranceChange: namespace and current_level are required, and
// change_direction is increase or decrease when present (CAEP 1.0
// §3.4.1). An increase asks nothing. Without a direction the receiver
// cannot order levels of a namespace it does not know, so it assumes the
// worse: the level went down.
func checkAssuranceChange(m strictjson.Members, d *Decision) error {
	if _, err := requiredString(m, "namespace"); err != nil {
		return err
	}
	if _, err := requiredString(m, "current_level"); err != nil {
		return err
	}
	if _, _, err := jose.String(m, "previous_level"); err != nil {
		return ErrEventPayload
	}
	direction, present, err := jose.String(m, "change_direction")
	switch {
	case err != nil:
		return ErrEventPayload
	case !present:
	case direction == "increase":
		d.Action = ActionNone
	case direction != "decrease":
		return ErrEventPayload
	}
	return nil
}

// checkAccountDisabled: reason, when present, is a string (RISC 1.0
// §2.3: hijacking, bulk-account, or another).
func checkAccountDisabled(m strictjson.Members, _ *Decision) error {
	if _, _, err := jose.String(m, "reason"); err != nil {
		return ErrEventPayload
	}
	return nil
}

// checkCredentialCompromise: credential_type is required (RISC 1.0 §2.7).
func checkCredentialCompromise(m strictjson.Members, _ *Decision) error {
	_, err := requiredString(m, "credential_type")
	return err
}

// maxState bounds a verification event's state.
const maxState = 1024

// checkVerification: state, when present, is a string.
func checkVerification(m strictjson.Members, d *Decision) error {
	state, _, err := jose.String(m, "state")
	if err != nil || len(state) > maxState {
		return ErrEventPayload
	}
	d.State = state
	return nil
}

// checkStreamUpdated: status is enabled, paused or disabled; reason, when
// present, a string (SSF 1.0 §8.1.5).
func checkStreamUpdated(m strictjson.Members, d *Decision) error {
	status, err := requiredString(m, "status")
	if err != nil {
		return err
	}
	switch status {
	case "enabled", "paused", "disabled":
	default:
		return ErrEventPayload
	}
	reason, _, err := jose.String(m, "reason")
	if err != nil || len(reason) > maxState {
		return ErrEventPayload
	}
	d.Status, d.Reason = status, reason
	return nil
}

// EventNames are the short names of the event types the receiver knows,
// and "other" for the rest: the values a Decision's Name takes.
func EventNames() []string {
	names := []string{"other"}
	for _, rule := range eventRules {
		names = append(names, rule.name)
	}
	slices.Sort(names)
	return names
}
