package oidclogin

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func token(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("signature"))
}

// TestReadIDToken: the claims the gateway acts on, read exactly; anything
// of the wrong type, a duplicate or a case variant is a refusal.
func TestReadIDToken(t *testing.T) {
	id, err := readIDToken(token(`{"iss":"https://idp","sub":"carol","email":"c@example.com","email_verified":true,` +
		`"phone_number":"+15555550142","phone_number_verified":false,"acr":"urn:a","amr":["pwd","otp"],"auth_time":1700000000,"nonce":"n","iat":1700000001,"aud":["gw","other"],"azp":"gw"}`))
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != "https://idp" || id.Subject != "carol" || id.Email != "c@example.com" || !id.EmailVerified ||
		id.Phone != "+15555550142" || id.PhoneVerified || id.ACR != "urn:a" || !slices.Equal(id.AMR, []string{"pwd", "otp"}) ||
		!id.AuthTime.Equal(time.Unix(1700000000, 0)) || id.nonce != "n" || !id.issuedAt.Equal(time.Unix(1700000001, 0)) ||
		!slices.Equal(id.audience, []string{"gw", "other"}) || id.azp == nil || *id.azp != "gw" {
		t.Errorf("read %+v", id)
	}
	for name, payload := range map[string]string{
		"no sub":                   `{"iss":"i","nonce":"n"}`,
		"empty sub":                `{"iss":"i","sub":"","nonce":"n"}`,
		"sub a number":             `{"iss":"i","sub":7,"nonce":"n"}`,
		"two subs":                 `{"iss":"i","sub":"carol","sub":"admin","nonce":"n"}`,
		"Sub beside sub":           `{"iss":"i","sub":"carol","Sub":"admin","nonce":"n"}`,
		"email_verified a string":  `{"iss":"i","sub":"c","email":"c@example.com","email_verified":"true","nonce":"n"}`,
		"phone verified a number":  `{"iss":"i","sub":"c","phone_number_verified":1,"nonce":"n"}`,
		"amr a string":             `{"iss":"i","sub":"c","amr":"pwd","nonce":"n"}`,
		"auth_time a string":       `{"iss":"i","sub":"c","auth_time":"1700000000","nonce":"n"}`,
		"nonce null":               `{"iss":"i","sub":"c","nonce":null}`,
		"EMAIL_VERIFIED beside it": `{"iss":"i","sub":"c","email_verified":false,"EMAIL_VERIFIED":true,"nonce":"n"}`,
		"no iat":                   `{"iss":"i","sub":"c","nonce":"n","iat":null}`,
		"iat a string":             `{"iss":"i","sub":"c","nonce":"n","iat":"1700000000"}`,
		"iat negative":             `{"iss":"i","sub":"c","nonce":"n","iat":-1}`,
		"two iats":                 `{"iss":"i","sub":"c","nonce":"n","iat":1,"iat":1700000000}`,
		"aud a number":             `{"iss":"i","sub":"c","nonce":"n","aud":7}`,
		"aud with a number":        `{"iss":"i","sub":"c","nonce":"n","aud":["gw",7]}`,
		"azp an array":             `{"iss":"i","sub":"c","nonce":"n","azp":["gw"]}`,
		"AZP beside azp":           `{"iss":"i","sub":"c","nonce":"n","azp":"gw","AZP":"other"}`,
		"not an object":            `["sub"]`,
	} {
		// Every payload but the one without it carries a valid iat, so
		// that each is refused for its own reason.
		if !strings.Contains(payload, `"iat"`) && strings.HasPrefix(payload, "{") {
			payload = strings.Replace(payload, "{", `{"iat":1700000000,`, 1)
		}
		payload = strings.Replace(payload, `"iat":null,`, "", 1)
		payload = strings.Replace(payload, `,"iat":null`, "", 1)
		if _, err := readIDToken(token(payload)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := readIDToken(token(`{"iat":1700000000,"iss":"i","sub":"c","nonce":"n"}`)); err != nil {
		t.Errorf("a minimal token: %v", err)
	}
	if _, err := readIDToken("a.b"); !errors.Is(err, ErrRefused) {
		t.Errorf("two parts: %v", err)
	}
}
