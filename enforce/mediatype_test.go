package enforce

import (
	"errors"
	"mime"
	"regexp"
	"strings"
	"testing"
)

func TestParseContentType(t *testing.T) {
	for v, want := range map[string]MediaType{
		"application/json":                                         {Type: "application", Subtype: "json"},
		"Application/JSON; Charset=UTF-8":                          {Type: "application", Subtype: "json", Charset: "UTF-8"},
		`text/plain;charset="utf-8"`:                               {Type: "text", Subtype: "plain", Charset: "utf-8"},
		"text/plain;\t charset=utf-8":                              {Type: "text", Subtype: "plain", Charset: "utf-8"},
		"application/x-www-form-urlencoded":                        {Type: "application", Subtype: "x-www-form-urlencoded"},
		"multipart/form-data; boundary=----WebKitFormBoundaryAbC":  {Type: "multipart", Subtype: "form-data", Boundary: "----WebKitFormBoundaryAbC"},
		`multipart/mixed; BOUNDARY="a'(b)+_-./:=?"`:                {Type: "multipart", Subtype: "mixed", Boundary: "a'(b)+_-./:=?"},
		"multipart/form-data; charset=utf-8; boundary=B":           {Type: "multipart", Subtype: "form-data", Charset: "utf-8", Boundary: "B"},
		"multipart/form-data; boundary=" + strings.Repeat("b", 70): {Type: "multipart", Subtype: "form-data", Boundary: strings.Repeat("b", 70)},
		"*/*": {Type: "*", Subtype: "*"},
		"multipart/form-data; boundary=myboundary":   {Type: "multipart", Subtype: "form-data", Boundary: "myboundary"},
		`multipart/form-data; Boundary="x=BOUNDARY"`: {Type: "multipart", Subtype: "form-data", Boundary: "x=BOUNDARY"},
	} {
		got, err := ParseContentType(v)
		if err != nil || got != want {
			t.Errorf("ParseContentType(%q) = %+v, %v; want %+v", v, got, err, want)
		}
	}
	for _, v := range []string{
		"", " ", "application", "application/", "/json", "application/json/x", "application /json", "application/ json",
		"application/json ", " application/json", "application/json;", "application/json; ", "application/json;;charset=utf-8",
		"application/json ;charset=utf-8", "application/json; charset =utf-8", "application/json; charset= utf-8",
		"application/json, text/plain", "application/json,", "application/json x", "application/json\tx",
		"application/json; charset", "application/json; charset=", `application/json; charset=""`, `application/json; charset="utf 8"`,
		`application/json; charset="utf\-8"`, `application/json; charset="utf-8`, "application/json; charset=utf-8; charset=utf-8",
		"application/json; charset=utf-8; CHARSET=utf-8", "application/json; profile=x", "application/json; boundary=x",
		"application/json; q=1", "application/json; name*=utf-8''x", "appl\u00e9cation/json", "application/json; charset=\u00e9",
		"multipart/form-data", "multipart/form-data; charset=utf-8", "multipart/form-data; boundary=", `multipart/form-data; boundary=""`,
		"multipart/form-data; boundary=a; boundary=a", "multipart/form-data; boundary=B; Boundary=B", "multipart/form-data; xboundary=A; boundary=B",
		`multipart/form-data; boundary="a b"`, `multipart/form-data; boundary="a,b"`, `multipart/form-data; boundary="a;b"`,
		`multipart/form-data; boundary="a\"b"`, "multipart/form-data; boundary=a*b", "multipart/form-data; boundary=" + strings.Repeat("b", 71),
		"multipart/form-data; charset=boundary; boundary=B", "multipart/boundary; boundary=B",
		"multipart/form-data; BOUNDARY=xboundary", `multipart/form-data; boundary="x=boundary="`,
		"multipart/form-data, text/plain; boundary=B", "application/x-www-form-urlencoded, text/plain", "application/x-www-form-urlencoded x",
	} {
		if m, err := ParseContentType(v); !errors.Is(err, ErrContentType) {
			t.Errorf("ParseContentType(%q) = %+v, %v; want ErrContentType", v, m, err)
		}
	}
}

// FuzzParseContentType: whatever ParseContentType accepts, Go's
// mime.ParseMediaType reads as the same type and parameters, PHP reads as
// the same type (cut at ";", "," or space) and boundary (the first
// "boundary" substring, then the first "="), and Rack as the same type
// (split on ";" or ",") and boundary (its MULTIPART regular expression).
func FuzzParseContentType(f *testing.F) {
	for _, seed := range []string{
		"application/json", "text/plain; charset=utf-8", `multipart/form-data; boundary="a'b"`, "multipart/mixed;boundary=x",
		"application/x-www-form-urlencoded, text/plain", "multipart/form-data; xboundary=A; boundary=B", "a/b; charset=\"x\"",
		"multipart/form-data; charset=UTF-8; BOUNDARY=----x", "application/x-www-form-urlencoded x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := ParseContentType(v)
		if err != nil {
			return
		}
		mt, params, err := mime.ParseMediaType(v)
		if err != nil || mt != m.Type+"/"+m.Subtype {
			t.Fatalf("%q: accepted as %+v, mime reads %q %v", v, m, mt, err)
		}
		want := map[string]string{}
		if m.Charset != "" {
			want["charset"] = m.Charset
		}
		if m.Boundary != "" {
			want["boundary"] = m.Boundary
		}
		if len(params) != len(want) || params["charset"] != want["charset"] || params["boundary"] != want["boundary"] {
			t.Fatalf("%q: accepted as %+v, mime reads %v", v, m, params)
		}
		if got := phpMediaType(v); got != mt {
			t.Fatalf("%q: PHP reads the type %q, not %q", v, got, mt)
		}
		if got := rackMediaType(v); got != mt {
			t.Fatalf("%q: Rack reads the type %q, not %q", v, got, mt)
		}
		if m.IsMultipart() {
			if got, ok := phpBoundary(v); !ok || got != m.Boundary {
				t.Fatalf("%q: PHP reads the boundary %q (%v), not %q", v, got, ok, m.Boundary)
			}
			if got := rackBoundary(v); got != m.Boundary {
				t.Fatalf("%q: Rack reads the boundary %q, not %q", v, got, m.Boundary)
			}
		}
	})
}

// phpMediaType is PHP 8.2's sapi_read_post_data: lower case, cut at the
// first ";", "," or space.
func phpMediaType(v string) string {
	if i := strings.IndexAny(v, ";, "); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// rackMediaType is Rack 2.2's MediaType.type: split on /\s*[;,]\s*/.
func rackMediaType(v string) string {
	return strings.ToLower(regexp.MustCompile(`\s*[;,]\s*`).Split(v, 2)[0])
}

// phpBoundary is PHP 8.2's rfc1867_post_handler: the first "boundary"
// (case-sensitively, else in any case), the first "=" after it, then a
// quoted value up to the next quote or a bare one up to "," or ";".
func phpBoundary(v string) (string, bool) {
	i := strings.Index(v, "boundary")
	if i < 0 {
		i = strings.Index(strings.ToLower(v), "boundary")
	}
	if i < 0 {
		return "", false
	}
	j := strings.IndexByte(v[i:], '=')
	if j < 0 {
		return "", false
	}
	b := v[i+j+1:]
	if strings.HasPrefix(b, `"`) {
		end := strings.IndexByte(b[1:], '"')
		if end < 0 {
			return "", false
		}
		return b[1 : 1+end], true
	}
	if end := strings.IndexAny(b, ",;"); end >= 0 {
		b = b[:end]
	}
	return b, true
}

// rackMultipart is Rack 2.2.22's Multipart::MULTIPART.
var rackMultipart = regexp.MustCompile(`(?is)\Amultipart/.*?boundary(\s*)="?([^";,]+)"?`)

// rackBoundary is Rack 2.2.22's parse_boundary ("" where it raises).
func rackBoundary(v string) string {
	m := rackMultipart.FindStringSubmatchIndex(v)
	if m == nil || m[3] != m[2] {
		return ""
	}
	if regexp.MustCompile(`(?i)boundary\s*=`).MatchString(v[m[1]:]) {
		return ""
	}
	return v[m[4]:m[5]]
}
