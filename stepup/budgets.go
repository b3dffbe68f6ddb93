package stepup

import (
	"time"
)

// The counters a code or a login is counted in, beyond the account locks
// (login_otp.go). A login code sent to an identifier the client has no device
// cookie of counts against the client's unproven sends, its share of the
// destination and the destination's shared budget; the login's check gives
// the client's two back (a proven code costs its client nothing but its
// ClientSends). A known device's login code counts in the identifier's
// known-devices budget instead: a stranger or a pumper at the same address
// cannot hold it back, and a pumper cannot make a device of an identifier
// it cannot read the codes of. Step-up codes go to a session's own
// verified identifier and count in its session key's budget (with at most
// one identifier per type, that bounds the key's codes as well as a
// budget of the key's own would).

// loginSendCounters lists, in the order they are checked, the counters one
// login code (first code or resend) to f's identifier, sent because of
// client, is counted in, and those of them the login's completion gives
// back.
func (e *Engine) loginSendCounters(f *loginFlow, client ClientInfo) (counters []counter, refund []string) {
	l := &e.cfg.Limits
	who := budgetClient(client.IP)
	destination := Rate{Count: e.cfg.OTP.MaxPerHour, Window: time.Hour}
	if f.Device != "" {
		return []counter{
			{clientSendsKey(who), l.ClientSends},
			{knownDevicesSendsKey(f.Value), destination},
			{globalSendsKey, l.Sends},
		}, nil
	}
	unproven, share := clientUnprovenKey(who), clientShareKey(f.Value, who)
	return []counter{
		{unproven, l.ClientUnprovenSends}, // first: a pumper is refused in one round trip
		{clientSendsKey(who), l.ClientSends},
		{share, l.ClientDestinationSends},
		{sendsKey(f.Value), destination},
		{globalSendsKey, l.Sends},
	}, []string{unproven, share}
}

// stepSendCounters lists the counters of one step-up code to a user's
// identifier to, for the session whose key is jkt.
func (e *Engine) stepSendCounters(to, jkt string, client ClientInfo) []counter {
	return []counter{
		{clientSendsKey(budgetClient(client.IP)), e.cfg.Limits.ClientSends},
		{sessionSendsKey(to, jkt), Rate{Count: e.cfg.OTP.MaxPerHour, Window: time.Hour}},
		{globalSendsKey, e.cfg.Limits.Sends},
	}
}

// loginWorkCounters lists the counters of a login that costs a password
// hash or a provider round trip (password login, sign-up, OAuth), and the
// one its completion gives back. A password login with a device cookie for
// its address is not counted in its client's unfinished logins, which a
// guesser at the same address may have spent: its failures count in the
// device's own counter (device.go), which locks at MaxUserFailures.
func (e *Engine) loginWorkCounters(client ClientInfo, knownDevice bool) (counters []counter, refund string) {
	l := &e.cfg.Limits
	who := budgetClient(client.IP)
	if knownDevice {
		return []counter{{clientStartsKey(who), l.ClientLoginStarts}, {globalStartsKey, l.LoginStarts}}, ""
	}
	unfinished := clientUnfinishedKey(who)
	return []counter{
		{unfinished, l.ClientUnfinishedLogins},
		{clientStartsKey(who), l.ClientLoginStarts},
		{globalStartsKey, l.LoginStarts},
	}, unfinished
}
