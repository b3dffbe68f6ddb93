// Package softauthn is a software WebAuthn authenticator and client for
// tests: it answers the options a relying party sends
// (PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON)
// the way a browser and an authenticator do together, as WebAuthn Level 3
// describes: client data JSON, authenticator data, P-256 credential keys
// made here, attestation "none", packed self attestation or packed
// attestation with a certificate, and the JSON forms a browser, iOS's
// SDK (reduced) and Android's Credential Manager (verbatim) send. Every
// field can be set wrong on purpose, to test the relying party's
// refusals. It shares no code with the relying party it tests.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

var b64 = base64.RawURLEncoding

// Attestation statement formats the authenticator can produce.
const (
	AttestNone       = "none"        // fmt none, empty attStmt
	AttestPackedSelf = "packed-self" // fmt packed, signed with the credential key
	AttestPacked     = "packed"      // fmt packed, signed with an attestation key whose certificate is in x5c
)

// Shapes of the JSON a client sends.
const (
	ShapeBrowser = "browser" // WebAuthn Level 3 toJSON(): every member
	ShapeIOS     = "ios"     // Prelude's iOS SDK 0.7: id, rawId, type, authenticatorAttachment, clientDataJSON, attestationObject (+ signature, userHandle)
	ShapeAndroid = "android" // Credential Manager's JSON, passed on verbatim: every member, credProps unprompted
)

// Flags of authenticator data (WebAuthn §6.1).
const (
	FlagUP = 0x01
	FlagUV = 0x04
	FlagBE = 0x08
	FlagBS = 0x10
	FlagAT = 0x40
)

// Credential is a key pair the authenticator made, and what it keeps with
// it.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	Counter    uint32
}

// IDText is the credential ID as base64url (as relying parties name it).
func (c *Credential) IDText() string { return b64.EncodeToString(c.ID) }

// Authenticator is a platform authenticator with its client.
type Authenticator struct {
	AAGUID [16]byte
	// Attestation is the statement Create produces (default none).
	Attestation string
	// AttestationKey and AttestationCert sign a packed attestation.
	AttestationKey  *ecdsa.PrivateKey
	AttestationCert *x509.Certificate
	// BackupEligible, BackupState: the BE and BS flags of its credentials
	// (a synced passkey sets both).
	BackupEligible, BackupState bool
	// CountFrom is the first credential's sign count; counts go up by one
	// per assertion. A zero CountFrom with NoCounter keeps every count 0,
	// as Apple's passkeys do.
	CountFrom uint32
	NoCounter bool
}

// Ceremony sets what one call does differently from an honest one.
type Ceremony struct {
	Origin string // clientDataJSON origin (required)
	// RPID overrides the relying party ID hashed into authenticator data
	// (default: the options' rp.id or rpId).
	RPID string
	// Challenge overrides the challenge (base64url) the client signs.
	Challenge string
	// NoUV clears the UV flag (the authenticator saw a user, verified none).
	NoUV bool
	// Type overrides clientDataJSON's type.
	Type string
	// CrossOrigin sets clientDataJSON's crossOrigin.
	CrossOrigin bool
	// Counter, when set, is the sign count sent instead of the next one.
	Counter *uint32
	// Shape is the JSON form (default ShapeBrowser).
	Shape string
	// OmitUserHandle leaves response.userHandle out of an assertion.
	OmitUserHandle bool
	// BadSignature corrupts the assertion's signature.
	BadSignature bool
}

func (c *Ceremony) shape() string {
	if c.Shape == "" {
		return ShapeBrowser
	}
	return c.Shape
}

// creationOptions is what Create reads of PublicKeyCredentialCreationOptionsJSON.
type creationOptions struct {
	RP struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rp"`
	User struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	} `json:"user"`
	Challenge        string `json:"challenge"`
	PubKeyCredParams []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	ExcludeCredentials []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
}

// ErrExcluded is a Create whose options exclude a credential this
// authenticator holds for the relying party (the browser's InvalidStateError).
var ErrExcluded = errors.New("softauthn: an excluded credential is on this authenticator")

// Create answers navigator.credentials.create({publicKey: options}): a new
// P-256 credential, and the RegistrationResponseJSON the client sends.
// held are the credentials the authenticator already has (for
// excludeCredentials).
func (a *Authenticator) Create(options []byte, c Ceremony, held ...*Credential) (*Credential, []byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, nil, err
	}
	if o.RP.ID == "" || o.RP.Name == "" || o.User.ID == "" || o.Challenge == "" {
		return nil, nil, errors.New("softauthn: creation options lack rp.id, rp.name, user.id or challenge")
	}
	es256 := false
	for _, p := range o.PubKeyCredParams {
		es256 = es256 || (p.Type == "public-key" && p.Alg == -7)
	}
	if !es256 {
		return nil, nil, errors.New("softauthn: the options do not offer ES256")
	}
	for _, ex := range o.ExcludeCredentials {
		for _, h := range held {
			if h.IDText() == ex.ID && h.RPID == o.RP.ID {
				return nil, nil, ErrExcluded
			}
		}
	}
	userHandle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("softauthn: user.id is not base64url: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cred := &Credential{ID: randomBytes(32), Key: key, RPID: o.RP.ID, UserHandle: userHandle, Counter: a.CountFrom}
	challenge := o.Challenge
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	clientData := clientDataJSON(pick(c.Type, "webauthn.create"), challenge, c.Origin, c.CrossOrigin)
	rpID := pick(c.RPID, o.RP.ID)
	count := cred.Counter
	if c.Counter != nil {
		count = *c.Counter
	}
	coseKey, err := coseP256(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	authData := a.authenticatorData(rpID, !c.NoUV, count, true)
	authData = append(authData, a.AAGUID[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(cred.ID)))
	authData = append(authData, cred.ID...)
	authData = append(authData, coseKey...)
	attObj, err := a.attestationObject(authData, clientData, key)
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	response := map[string]any{"clientDataJSON": b64.EncodeToString(clientData), "attestationObject": b64.EncodeToString(attObj)}
	body := map[string]any{"id": cred.IDText(), "rawId": cred.IDText(), "type": "public-key", "authenticatorAttachment": "platform",
		"response": response}
	switch c.shape() {
	case ShapeIOS:
		// Prelude's iOS SDK 0.7 builds this reduced object itself.
	case ShapeAndroid:
		response["authenticatorData"] = b64.EncodeToString(authData)
		response["transports"] = []string{"internal", "hybrid"}
		response["publicKey"] = b64.EncodeToString(spki)
		response["publicKeyAlgorithm"] = -7
		body["clientExtensionResults"] = map[string]any{"credProps": map[string]any{"rk": true}}
	default:
		response["authenticatorData"] = b64.EncodeToString(authData)
		response["transports"] = []string{"internal"}
		response["publicKey"] = b64.EncodeToString(spki)
		response["publicKeyAlgorithm"] = -7
		body["clientExtensionResults"] = map[string]any{}
	}
	out, err := json.Marshal(body)
	return cred, out, err
}

// requestOptions is what Get reads of PublicKeyCredentialRequestOptionsJSON.
type requestOptions struct {
	Challenge        string `json:"challenge"`
	RPID             string `json:"rpId"`
	AllowCredentials []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"allowCredentials"`
	UserVerification string `json:"userVerification"`
}

// Get answers navigator.credentials.get({publicKey: options}) with cred:
// the AuthenticationResponseJSON the client sends. An honest client
// refuses a credential the options do not allow, or of another relying
// party; Get does too unless the ceremony overrides the relying party.
func (a *Authenticator) Get(options []byte, cred *Credential, c Ceremony) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	if o.Challenge == "" || o.RPID == "" {
		return nil, errors.New("softauthn: request options lack challenge or rpId")
	}
	if c.RPID == "" {
		if cred.RPID != o.RPID {
			return nil, errors.New("softauthn: the credential is another relying party's")
		}
		if len(o.AllowCredentials) > 0 {
			allowed := false
			for _, d := range o.AllowCredentials {
				allowed = allowed || (d.ID == cred.IDText() && d.Type == "public-key")
			}
			if !allowed {
				return nil, errors.New("softauthn: the options do not allow this credential")
			}
		}
	}
	challenge := o.Challenge
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	if !a.NoCounter {
		cred.Counter++
	}
	count := cred.Counter
	if c.Counter != nil {
		count = *c.Counter
	}
	clientData := clientDataJSON(pick(c.Type, "webauthn.get"), challenge, c.Origin, c.CrossOrigin)
	authData := a.authenticatorData(pick(c.RPID, o.RPID), !c.NoUV, count, false)
	sig, err := sign(cred.Key, authData, clientData)
	if err != nil {
		return nil, err
	}
	if c.BadSignature {
		sig[len(sig)-1] ^= 0xff
	}
	response := map[string]any{"clientDataJSON": b64.EncodeToString(clientData), "authenticatorData": b64.EncodeToString(authData),
		"signature": b64.EncodeToString(sig)}
	if !c.OmitUserHandle {
		response["userHandle"] = b64.EncodeToString(cred.UserHandle)
	}
	body := map[string]any{"id": cred.IDText(), "rawId": cred.IDText(), "type": "public-key", "authenticatorAttachment": "platform",
		"response": response}
	if c.shape() != ShapeIOS {
		body["clientExtensionResults"] = map[string]any{}
	}
	return json.Marshal(body)
}

// authenticatorData is rpIdHash, flags and sign count (WebAuthn §6.1);
// attested adds the AT flag (the attested credential data follows).
func (a *Authenticator) authenticatorData(rpID string, uv bool, count uint32, attested bool) []byte {
	hash := sha256.Sum256([]byte(rpID))
	flags := byte(FlagUP)
	if uv {
		flags |= FlagUV
	}
	if a.BackupEligible {
		flags |= FlagBE
	}
	if a.BackupState {
		flags |= FlagBS
	}
	if attested {
		flags |= FlagAT
	}
	out := append(hash[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

// attestationObject is the CBOR map {fmt, attStmt, authData}.
func (a *Authenticator) attestationObject(authData, clientData []byte, credKey *ecdsa.PrivateKey) ([]byte, error) {
	stmt := map[string]any{}
	format := "none"
	switch a.Attestation {
	case "", AttestNone:
	case AttestPackedSelf:
		format = "packed"
		sig, err := sign(credKey, authData, clientData)
		if err != nil {
			return nil, err
		}
		stmt = map[string]any{"alg": -7, "sig": sig}
	case AttestPacked:
		if a.AttestationKey == nil || a.AttestationCert == nil {
			return nil, errors.New("softauthn: packed attestation needs an attestation key and certificate")
		}
		format = "packed"
		sig, err := sign(a.AttestationKey, authData, clientData)
		if err != nil {
			return nil, err
		}
		stmt = map[string]any{"alg": -7, "sig": sig, "x5c": [][]byte{a.AttestationCert.Raw}}
	default:
		return nil, fmt.Errorf("softauthn: unknown attestation %q", a.Attestation)
	}
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[string]any{"fmt": format, "attStmt": stmt, "authData": authData})
}

// coseP256 is the COSE_Key of an ES256 public key (RFC 9053 §7.1.1).
func coseP256(pub *ecdsa.PublicKey) ([]byte, error) {
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

// clientDataJSON is what the client signs over (WebAuthn §5.8.1), in the
// member order browsers write.
func clientDataJSON(typ, challenge, origin string, crossOrigin bool) []byte {
	t, _ := json.Marshal(typ)
	ch, _ := json.Marshal(challenge)
	o, _ := json.Marshal(origin)
	return fmt.Appendf(nil, `{"type":%s,"challenge":%s,"origin":%s,"crossOrigin":%t}`, t, ch, o, crossOrigin)
}

// sign is an ES256 signature (ASN.1 DER, as WebAuthn carries it) over
// authData || SHA-256(clientDataJSON).
func sign(key *ecdsa.PrivateKey, authData, clientData []byte) ([]byte, error) {
	cdh := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdh[:]...))
	return ecdsa.SignASN1(rand.Reader, key, digest[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func pick(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
