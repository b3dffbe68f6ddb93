package enforce

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

func TestClassifyBody(t *testing.T) {
	for _, tc := range []struct {
		types []string
		kind  BodyKind
		err   error
	}{
		{nil, FormBody, nil}, // no Content-Type: read as a form
		{[]string{"application/json"}, OpaqueBody, nil},
		{[]string{"application/json; charset=utf-16"}, OpaqueBody, nil},
		{[]string{"application/octet-stream"}, OpaqueBody, nil},
		{[]string{"application/x-www-form-urlencoded"}, FormBody, nil},
		{[]string{"Application/X-WWW-Form-URLEncoded; charset=UTF-8"}, FormBody, nil},
		{[]string{"application/x-www-form-urlencoded;charset=us-ascii"}, FormBody, nil},
		{[]string{"multipart/form-data; boundary=x"}, MultipartBody, nil},
		{[]string{"MULTIPART/FORM-DATA;boundary=x"}, MultipartBody, nil},
		{[]string{"multipart/mixed; boundary=x"}, MultipartBody, nil},
		{[]string{"multipart/related; boundary=x"}, MultipartBody, nil},
		{[]string{"multipart/x-anything; boundary=x"}, MultipartBody, nil},
		{[]string{" application/x-www-form-urlencoded ;"}, OpaqueBody, ErrContentType},
		{[]string{"application/x-www-form-urlencoded; garbage"}, OpaqueBody, ErrContentType},
		{[]string{"application/x-www-form-urlencoded; charset=utf-16"}, FormBody, ErrContentType},
		{[]string{"multipart/form-data; charset=utf-7; boundary=x"}, MultipartBody, ErrContentType},
		{[]string{"application/json", "application/x-www-form-urlencoded"}, OpaqueBody, ErrContentType},
	} {
		kind, _, err := ClassifyBody(tc.types)
		if kind != tc.kind || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("ClassifyBody(%q) = %d, %v; want %d, %v", tc.types, kind, err, tc.kind, tc.err)
		}
	}
}

func TestReadBodyAtAndOverTheLimit(t *testing.T) {
	if raw, err := ReadBody(strings.NewReader(strings.Repeat("a", 100)), 100); err != nil || len(raw) != 100 {
		t.Fatalf("at the limit: %d bytes, %v", len(raw), err)
	}
	if _, err := ReadBody(strings.NewReader(strings.Repeat("a", 101)), 100); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

// TestReadSizedBody: the declared size only sizes the buffer; the limit and
// the bytes read decide, whatever the sender declared.
func TestReadSizedBody(t *testing.T) {
	for _, c := range []struct {
		body      string
		size      int64
		wantLen   int
		wantError error
	}{
		{strings.Repeat("a", 100), 100, 100, nil},
		{strings.Repeat("a", 100), -1, 100, nil},
		{strings.Repeat("a", 100), 10, 100, nil}, // declared too small
		{strings.Repeat("a", 50), 100, 50, nil},  // declared too large
		{strings.Repeat("a", 101), 100, 0, ErrBodyTooLarge},
		{strings.Repeat("a", 101), 101, 0, ErrBodyTooLarge},
		{strings.Repeat("a", 5000), 60, 0, ErrBodyTooLarge},
		{"", 0, 0, nil},
	} {
		raw, err := ReadSizedBody(iotest.OneByteReader(strings.NewReader(c.body)), c.size, 100)
		if !errors.Is(err, c.wantError) || (c.wantError == nil && (err != nil || string(raw) != c.body)) || len(raw) != c.wantLen {
			t.Errorf("%d bytes declared %d: %d bytes, %v; want %d, %v", len(c.body), c.size, len(raw), err, c.wantLen, c.wantError)
		}
	}
	if _, err := ReadSizedBody(iotest.ErrReader(errors.New("reset")), 10, 100); !errors.Is(err, ErrMalformedBody) {
		t.Errorf("a failing read: %v", err)
	}
}

func TestInspectURLEncodedForm(t *testing.T) {
	for body, want := range map[string]error{
		"a=1&b=2":            nil,
		"a=1&access_token=x": ErrSecondCredential,
		"access%5Ftoken=x":   ErrSecondCredential,
		"memo=" + strings.Repeat("x", 70000) + "&access_token=x": ErrSecondCredential,
		"memo=access_token": nil,
	} {
		if err := InspectForm(FormBody, MediaType{}, []byte(body)); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("%.40q: %v, want %v", body, err, want)
		}
	}
}

func multipartBody(t *testing.T, parts ...[2]string) (MediaType, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", p[0])
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(p[1]))
	}
	w.Close()
	m, err := ParseContentType(w.FormDataContentType())
	if err != nil {
		t.Fatal(err)
	}
	return m, buf.Bytes()
}

func TestInspectMultipartForm(t *testing.T) {
	for _, tc := range []struct {
		name        string
		disposition string
		want        error
	}{
		{"ordinary field", `form-data; name="memo"`, nil},
		{"file", `form-data; name="file"; filename="access_token.txt"`, nil},
		{"access_token part", `form-data; name="access_token"`, ErrSecondCredential},
		{"upper case", `form-data; name="ACCESS_TOKEN"`, ErrSecondCredential},
		{"unquoted", `form-data; name=access_token`, ErrSecondCredential},
		{"percent-encoded", `form-data; name="access%5Ftoken"`, ErrSecondCredential},
		{"array", `form-data; name="access_token[]"`, ErrSecondCredential},
		{"extended name*", `form-data; name*=UTF-8''access_token`, ErrMalformedBody},
		{"name and name*", `form-data; name="memo"; name*=UTF-8''access_token`, ErrMalformedBody},
		{"duplicate name", `form-data; name="memo"; name="access_token"`, ErrMalformedBody},
		{"unparseable", `form-data; name="memo`, ErrMalformedBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := multipartBody(t, [2]string{`form-data; name="a"`, "1"}, [2]string{tc.disposition, "x"})
			if err := InspectForm(MultipartBody, ct, body); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("two dispositions", func(t *testing.T) {
		body := "--b\r\nContent-Disposition: form-data; name=\"memo\"\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nx\r\n--b--\r\n"
		if err := InspectForm(MultipartBody, MediaType{Type: "multipart", Subtype: "form-data", Boundary: "b"}, []byte(body)); !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no boundary", func(t *testing.T) {
		if err := InspectForm(MultipartBody, MediaType{Type: "multipart", Subtype: "form-data"}, []byte("----\r\n\r\n----")); !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		ct, body := multipartBody(t, [2]string{`form-data; name="a"`, "1"})
		if err := InspectForm(MultipartBody, ct, body[:len(body)-10]); !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("after a large file", func(t *testing.T) {
		ct, body := multipartBody(t, [2]string{`form-data; name="file"; filename="a.bin"`, strings.Repeat("\x00\xff", 100000)}, [2]string{`form-data; name="access_token"`, "x"})
		if err := InspectForm(MultipartBody, ct, body); !errors.Is(err, ErrSecondCredential) {
			t.Fatalf("err = %v", err)
		}
	})
}
