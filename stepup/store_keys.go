package stepup

import "strconv"

// Store keys. Every key of one entity carries the entity's ID as a Redis
// Cluster hash tag, so multi-key operations on it stay in one slot.

func flowKey(id string) string               { return "flow:{" + id + "}" }
func flowTriesKey(id string, gen int) string { return "flow:{" + id + "}:tries:" + strconv.Itoa(gen) }
func identKey(typ, value string) string      { return "ident:{" + typ + ":" + value + "}" }
func identFailKey(typ, value string) string  { return "ident:{" + typ + ":" + value + "}:fail" }
func identDeviceFailKey(typ, value, jkt string) string {
	return "ident:{" + typ + ":" + value + "}:fail:dev:" + jkt
}
func clientFailKey(client string) string { return "fail:{c:" + client + "}" }

// Budgets of a destination (a phone number or email address) live under
// its hash tag: what every client without a device of it shares, what its
// known devices share, one client's share, one session key's step-up
// codes.
func sendsKey(value string) string             { return "sends:{" + value + "}" }
func knownDevicesSendsKey(value string) string { return "sends:{" + value + "}:devices" }
func clientShareKey(value, client string) string {
	return "sends:{" + value + "}:client:" + client
}
func sessionSendsKey(value, jkt string) string { return "sends:{" + value + "}:jkt:" + jkt }

// Budgets of a client (budgetClient) live under its hash tag: every code
// and every login it caused, and those not proven or completed yet.
func clientSendsKey(client string) string      { return "rl:{c:" + client + "}:sends" }
func clientUnprovenKey(client string) string   { return "rl:{c:" + client + "}:unproven" }
func clientStartsKey(client string) string     { return "rl:{c:" + client + "}:starts" }
func clientUnfinishedKey(client string) string { return "rl:{c:" + client + "}:unfinished" }

// Limits shared by every client live under one hash tag.
const (
	globalStartsKey = "rl:{all}:starts"
	globalSendsKey  = "rl:{all}:sends"
)

func userKey(id string) string           { return "usr:{" + id + "}" }
func userFailKey(id string) string       { return "usr:{" + id + "}:fail" }
func userSessionsKey(id string) string   { return "usr:{" + id + "}:sessions" }
func userChallengesKey(id string) string { return "usr:{" + id + "}:challenges" }
func userGrantsKey(id string) string     { return "usr:{" + id + "}:grants" }
func sessionKey(id string) string        { return "ses:{" + id + "}" }
func proofJTIKey(jkt, jti string) string { return "jti:{" + jkt + "}:" + jti }
func challengeKey(id string) string      { return "chl:{" + id + "}" }
func challengeTriesKey(id string, gen int) string {
	return "chl:{" + id + "}:tries:" + strconv.Itoa(gen)
}
func grantKey(id, userID, sessionID, scope string) string {
	return "grt:{" + id + "}:" + userID + ":" + sessionID + ":" + scope
}
func verificationJTIKey(jti string) string { return "vjti:{" + jti + "}" }
func ticketKey(id string) string           { return "lgn:{" + id + "}" }

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func userPasskeysKey(id string) string { return "usr:{" + id + "}:passkeys" }

// Passkey ceremonies in flight (registration and login), by their token.
func passkeyCeremonyKey(id string) string { return "pkc:{" + id + "}" }
