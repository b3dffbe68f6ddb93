package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/caddy-stepup/caddy-stepup/internal/testcaddy"
)

// TestSignedResourceMetadataThroughTheBuiltCaddy: with signed_metadata,
// each RFC 9728 document carries a JWT that the gateway's JWKS verifies
// (ES256, its kid), issued by the gateway's issuer, whose claims are
// exactly the document's plain members; the plain members are those of
// the same site without the word. A real client (oauth4webapi) reads the
// document, and does not check signed metadata: a forged one passes it
// too.
func TestSignedResourceMetadataThroughTheBuiltCaddy(t *testing.T) {
	api := newUpstream(t)
	client := newClient(t)
	port, plainPort := testcaddy.FreePort(t), testcaddy.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	plainBase := fmt.Sprintf("http://127.0.0.1:%d", plainPort)
	site := func(addr, metadata string) string {
		return fmt.Sprintf(`%s {
	%s
	stepup_session
	route /payments* {
		stepup payments:write {
			resource %s/payments
			acr urn:stepup:phone
		}
		reverse_proxy %s
	}
	stepup read
	reverse_proxy %[4]s
}
`, addr, metadata, addr, api.srv.URL)
	}
	testcaddy.Start(t, testcaddy.Config{
		Caddyfile: fmt.Sprintf(`{
	admin {admin}
	auto_https off
	stepup {
		issuer %s
	}
}

`, base) + site(base, "stepup_metadata {\n\t\tresource_name Payments\n\t\tsigned_metadata\n\t}") +
			site(plainBase, "stepup_metadata {\n\t\tresource_name Payments\n\t}"),
		WaitFor: []string{base + "/.well-known/jwks.json"},
	})
	keys := gatewayJWKS(t, base)

	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/payments"} {
		got := fetch(t, client, "GET", base+path, nil)
		var doc map[string]any
		if got.status != 200 || json.Unmarshal(got.body, &doc) != nil {
			t.Fatalf("GET %s: %d %s", path, got.status, got.body)
		}
		signed, _ := doc["signed_metadata"].(string)
		payload, err := jws.Verify([]byte(signed), jws.WithKeySet(keys, jws.WithRequireKid(true)))
		if err != nil {
			t.Fatalf("%s: signed_metadata %q does not verify with the gateway's JWKS: %v", path, signed, err)
		}
		msg, err := jws.Parse([]byte(signed))
		if err != nil {
			t.Fatal(err)
		}
		hdr := msg.Signatures()[0].ProtectedHeaders()
		alg, _ := hdr.Algorithm()
		kid, _ := hdr.KeyID()
		if _, ok := keys.LookupKeyID(kid); !ok || alg != jwa.ES256() {
			t.Errorf("%s: header alg %v kid %q", path, alg, kid)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		members := doc
		delete(members, "signed_metadata")
		want := map[string]any{"iss": base}
		for k, v := range members {
			want[k] = v
		}
		if !reflect.DeepEqual(claims, want) {
			t.Errorf("%s: claims\n%v\nwant the document's members and iss\n%v", path, claims, want)
		}
		// The same site without the word: the same plain members, but the
		// resource's origin.
		plain := fetch(t, client, "GET", plainBase+path, nil)
		var plainDoc map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(plain.body), plainBase, base)), &plainDoc); err != nil || !reflect.DeepEqual(plainDoc, members) {
			t.Errorf("%s: the plain members\n%v\nwant those of the site without signed_metadata\n%v", path, members, plainDoc)
		}
		if strings.Contains(string(plain.body), "signed_metadata") {
			t.Errorf("%s: a site without the word signs: %s", path, plain.body)
		}
	}

	// oauth4webapi 3.8.8 reads the document and hands signed_metadata back
	// as a string it never looked at: it accepts a forged one just the same.
	dir := requireOIDCHarness(t)
	const script = `
import * as oauth from 'oauth4webapi';
const [url, resource] = process.argv.slice(1);
const body = await (await fetch(url)).json();
const read = async (doc) => oauth.processResourceDiscoveryResponse(new URL(resource),
  new Response(JSON.stringify(doc), { headers: { 'content-type': 'application/json' } }));
const real = await read(body);
const forged = await read({ ...body, signed_metadata: 'eyJhbGciOiJub25lIn0.eyJyZXNvdXJjZSI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIn0.' });
console.log(JSON.stringify({ real_signed: real.signed_metadata, real_resource: real.resource, forged_resource: forged.resource, forged_signed: forged.signed_metadata }));
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", script, base+"/.well-known/oauth-protected-resource/payments", base+"/payments")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oauth4webapi: %v\n%s", err, out)
	}
	var seen struct {
		RealSigned     string `json:"real_signed"`
		RealResource   string `json:"real_resource"`
		ForgedResource string `json:"forged_resource"`
		ForgedSigned   string `json:"forged_signed"`
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("oauth4webapi: %s", out)
	}
	forgedSigned := "eyJhbGciOiJub25lIn0.eyJyZXNvdXJjZSI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIn0."
	if claims, _ := base64.RawURLEncoding.DecodeString(strings.Split(forgedSigned, ".")[1]); !strings.Contains(string(claims), "evil.example") {
		t.Fatal("the forged signed metadata names no other resource")
	}
	if seen.RealSigned == "" || seen.RealResource != base+"/payments" || seen.ForgedResource != base+"/payments" || seen.ForgedSigned != forgedSigned {
		t.Errorf("oauth4webapi: %s", out)
	}
}
