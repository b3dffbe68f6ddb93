package otp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// Channels and purposes a Message may carry.
const (
	ChannelSMS     = "sms"
	ChannelEmail   = "email"
	PurposeLogin   = "login"
	PurposeStepUp  = "step_up"
	deliveryIDSize = 16
)

// Message is one code on its way to a user.
type Message struct {
	// Channel is "sms" or "email".
	Channel string
	// To is the destination: an E.164 phone number or an email address, always
	// the user's verified identifier.
	To string
	// Code is the one-time code in clear: it exists only on its way out.
	Code string
	// Purpose is "login" or "step_up".
	Purpose string
	// ExpiresAt is when the code stops being accepted.
	ExpiresAt time.Time
	// ChallengeID is the step-up challenge (step-up only).
	ChallengeID string
	// Scope is the scope being stepped up to (step-up only).
	Scope string
	// ID identifies this delivery so that receivers can deduplicate; a sender
	// fills one from crypto/rand when it is empty.
	ID string
}

// Sender delivers a Message. An error means the code may not have reached the
// user; it never contains the code.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var errInvalidMessage = errors.New("otp: invalid message")

// validate checks what every sender relies on.
func (m *Message) validate() error {
	if m.Channel != ChannelSMS && m.Channel != ChannelEmail {
		return errInvalidMessage
	}
	if m.Purpose != PurposeLogin && m.Purpose != PurposeStepUp {
		return errInvalidMessage
	}
	if m.To == "" || m.Code == "" || m.ExpiresAt.IsZero() {
		return errInvalidMessage
	}
	return nil
}

// NewDeliveryID returns a random delivery identifier (128 bits, base64url).
func NewDeliveryID() string {
	b := make([]byte, deliveryIDSize)
	rand.Read(b) // never fails (crypto/rand panics otherwise)
	return base64.RawURLEncoding.EncodeToString(b)
}
