package stepup

import (
	"net/mail"
	"strings"
)

// Identifier types, as the SDK names them.
const (
	IdentifierPhone = "phone_number"
	IdentifierEmail = "email_address"
)

// Identifier is a way to reach a user: a phone number or an email
// address. Whether it counts for a user is users.go's question.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// normalizeIdentifier checks an identifier strictly and returns its
// canonical form (E.164 phone numbers; lower-cased email addresses).
func normalizeIdentifier(typ, value string) (string, bool) {
	switch typ {
	case IdentifierPhone:
		if len(value) < 8 || len(value) > 16 || value[0] != '+' || value[1] == '0' {
			return "", false
		}
		for i := 1; i < len(value); i++ {
			if value[i] < '0' || value[i] > '9' {
				return "", false
			}
		}
		return value, true
	case IdentifierEmail:
		if len(value) > 254 || strings.ContainsAny(value, " \t\r\n<>\"(),;:\\[]") {
			return "", false
		}
		addr, err := mail.ParseAddress(value)
		if err != nil || addr.Address != value || addr.Name != "" {
			return "", false
		}
		at := strings.LastIndexByte(value, '@')
		if at < 1 || at == len(value)-1 || !strings.Contains(value[at:], ".") {
			return "", false
		}
		return strings.ToLower(value), true
	}
	return "", false
}

// channelOf is the OTP channel that reaches an identifier type.
func channelOf(typ string) string {
	if typ == IdentifierEmail {
		return "email"
	}
	return "sms"
}
