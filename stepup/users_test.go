package stepup

import (
	"context"
	"testing"
)

// TestUserRecordsWithUnprovenIdentifiers: a user record written before proofs were
// recorded (identifiers without proven_by), with its identifiers indexed
// to it, as an OAuth login used to leave them. Its identifiers count for
// nothing: no step-up code goes to them, a password login with its email
// finds no one, and a code login gives the code's prover a user of their
// own, leaving the old record as it was.
func TestUserRecordsWithUnprovenIdentifiers(t *testing.T) {
	h := newHarness(t, nil, withPasswords)
	ctx := context.Background()
	const email, phone = "old@example.com", "+15555550123"
	hash, err := h.e.passwords.Hash(ctx, goodPassword)
	noErr(t, "hash", err)
	legacyID := newID(prefixUser)
	legacy := []byte(`{"v":1,"id":"` + legacyID + `","identifiers":[{"type":"email_address","value":"` + email +
		`"},{"type":"phone_number","value":"` + phone + `"}],"created":1700000000,"password":"` + hash + `"}`)
	noErr(t, "user", h.st.Set(ctx, userKey(legacyID), legacy, h.e.cfg.UserTTL))
	noErr(t, "index", h.st.Set(ctx, identKey(IdentifierEmail, email), mustJSON(legacyID), h.e.cfg.UserTTL))
	noErr(t, "index", h.st.Set(ctx, identKey(IdentifierPhone, phone), mustJSON(legacyID), h.e.cfg.UserTTL))

	// A session of the legacy user: its step-up sends nothing.
	var u userRecord
	_, err = h.e.load(ctx, userKey(legacyID), &u)
	noErr(t, "load", err)
	old := &client{jkt: newJKT(t)}
	old.tokens, err = h.e.createSession(ctx, &u, old.jkt, authEvent{At: h.clk.Now().Unix()}, testClient)
	noErr(t, "session", err)
	sent := h.sender.count()
	res := h.stepUp(t, old, scopeSMS, nil)
	_, err = h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient)
	wantErr(t, "an SMS step to an unproven number", err, ErrNoVerifiedIdentifier)
	if h.sender.count() != sent {
		t.Error("a code was sent")
	}
	// The password alone does not log in with an address the gateway
	// never proved for this user.
	_, err = h.passwordLogin(t, email, goodPassword, "")
	wantErr(t, "a password login", err, ErrBadCredentials)

	// A code proves the phone: its prover gets a user of their own.
	byCode := h.login(t, IdentifierPhone, phone)
	if byCode.tokens.UserID == legacyID || h.indexOwner(t, IdentifierPhone, phone) != byCode.tokens.UserID {
		t.Fatalf("the code login landed in %s (legacy %s)", byCode.tokens.UserID, legacyID)
	}
	if got, _ := h.st.Get(ctx, userKey(legacyID)); string(got) != string(legacy) {
		t.Errorf("the old record changed: %s", got)
	}
	// The new user's number was proven by that code, and now receives
	// its step-up codes.
	nu := h.userByID(t, byCode.tokens.UserID)
	if held := nu.find(Identifier{Type: IdentifierPhone, Value: phone}); held == nil || held.ProvenBy != provenByCode || held.ProvenAt != h.clk.Now().Unix() {
		t.Errorf("the new user's entry: %+v", held)
	}
	res = h.stepUp(t, byCode, scopeSMS, nil)
	if _, err := h.e.SendStepOTP(ctx, res.ChallengeToken, false, testClient); err != nil {
		t.Fatal(err)
	}
	if msg := h.sender.last(t); msg.To != phone {
		t.Errorf("the code went to %s", msg.To)
	}
	// A second code login finds the same user.
	if again := h.login(t, IdentifierPhone, phone); again.tokens.UserID != byCode.tokens.UserID {
		t.Error("a second code login made another user")
	}
}

// TestIndexWithoutItsUser: an index whose user record is gone (expired,
// or a write that never landed) goes to the code's prover.
func TestIndexWithoutItsUser(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	first := h.login(t, IdentifierEmail, "gone@example.com")
	noErr(t, "delete", h.st.Delete(ctx, userKey(first.tokens.UserID)))
	again := h.login(t, IdentifierEmail, "gone@example.com")
	if again.tokens.UserID == first.tokens.UserID || h.indexOwner(t, IdentifierEmail, "gone@example.com") != again.tokens.UserID {
		t.Errorf("the login landed in %s", again.tokens.UserID)
	}
}
