package signals

import "slices"

// UserRef names a user: by an issuer's subject (a trusted issuer's sub,
// or the gateway's own user ID when Issuer is the gateway's issuer), or by
// an email address or phone number that counts for a gateway user.
// Exactly one form is set.
type UserRef struct {
	Issuer  string
	Subject string
	Email   string
	Phone   string
}

// SessionRef names one session: sid SID in Issuer's tokens (the gateway's
// own session ID when Issuer is the gateway's issuer).
type SessionRef struct {
	Issuer string
	SID    string
}

// TokenRef names one token: jti JTI in Issuer's tokens.
type TokenRef struct {
	Issuer string
	JTI    string
}

// Targets are what an action reaches. Empty when the subject names
// nothing the gateway can find (a format it does not act on, an issuer
// the transmitter may not speak for).
type Targets struct {
	Users    []UserRef
	Sessions []SessionRef
	Tokens   []TokenRef
}

// Empty reports whether the targets reach nothing.
func (t Targets) Empty() bool { return len(t.Users)+len(t.Sessions)+len(t.Tokens) == 0 }

// targets resolves a subject. An issuer's subjects, sessions and tokens
// are reached only for the issuers the transmitter may speak for
// (Transmitter.SubjectIssuers); an opaque identifier is the transmitter's
// own: its user's ID, or, for a session event's simple subject or a
// complex subject's session member, its session ID (CAEP 1.0 §3.1).
func (t *Transmitter) targets(s *Subject, sessionScoped bool) Targets {
	var out Targets
	t.collect(s, sessionScoped, true, &out)
	return out
}

func (t *Transmitter) collect(s *Subject, sessionScoped, top bool, out *Targets) {
	switch s.Format {
	case "complex":
		if sessionScoped && s.Session != nil {
			t.collectSession(s.Session, out)
			return
		}
		if s.User != nil {
			t.collect(s.User, false, false, out)
		}
	case "aliases":
		for _, alias := range s.Aliases {
			t.collect(alias, sessionScoped, false, out)
		}
	case "opaque":
		if sessionScoped && top {
			out.Sessions = append(out.Sessions, SessionRef{Issuer: t.Issuer, SID: s.ID})
			return
		}
		out.Users = append(out.Users, UserRef{Issuer: t.Issuer, Subject: s.ID})
	case "iss_sub":
		if t.maySpeakFor(s.Issuer) {
			out.Users = append(out.Users, UserRef{Issuer: s.Issuer, Subject: s.Subject})
		}
	case "email":
		out.Users = append(out.Users, UserRef{Email: s.Email})
	case "phone_number":
		out.Users = append(out.Users, UserRef{Phone: s.Phone})
	case "jwt_id":
		if t.maySpeakFor(s.Issuer) {
			out.Tokens = append(out.Tokens, TokenRef{Issuer: s.Issuer, JTI: s.JTI})
		}
	}
}

// collectSession resolves a complex subject's session member.
func (t *Transmitter) collectSession(s *Subject, out *Targets) {
	switch s.Format {
	case "opaque":
		out.Sessions = append(out.Sessions, SessionRef{Issuer: t.Issuer, SID: s.ID})
	case "iss_sub":
		if t.maySpeakFor(s.Issuer) {
			out.Sessions = append(out.Sessions, SessionRef{Issuer: s.Issuer, SID: s.Subject})
		}
	}
}

// maySpeakFor reports whether the transmitter may name iss's subjects:
// its own issuer always, others when listed.
func (t *Transmitter) maySpeakFor(iss string) bool {
	return iss == t.Issuer || slices.Contains(t.SubjectIssuers, iss)
}
