package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"
)

// oidFIDOAAGUID is id-fido-gen-ce-aaguid: the authenticator model an
// attestation certificate vouches for.
var oidFIDOAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// WithPackedAttestation makes a an authenticator of model aaguid whose
// attestations are packed, signed with an attestation key certified (as
// WebAuthn §8.2.1 requires: version 3, C/O/OU/CN, not a CA, the AAGUID
// extension) by a vendor root made here.
func (a *Authenticator) WithPackedAttestation(aaguid [16]byte) error {
	a.AAGUID = aaguid
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "softauthn root", Organization: []string{"softauthn"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{Country: []string{"FR"}, Organization: []string{"softauthn"},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "softauthn attestation"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), BasicConstraintsValid: true, IsCA: false,
		ExtraExtensions: []pkix.Extension{{Id: oidFIDOAAGUID, Value: ext}}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, rootCert, &key.PublicKey, rootKey)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	a.Attestation, a.AttestationKey, a.AttestationCert = AttestPacked, key, cert
	return nil
}
