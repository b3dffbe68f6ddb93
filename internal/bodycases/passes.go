package bodycases

import (
	"bytes"
	"compress/gzip"
	"strings"
)

// passes are requests that reach the upstream: no access_token any parser
// reads, a Content-Type every parser reads the same way, and, for bodies
// that stream unread, any size.
func passes(limit int) []Case {
	p := func(name string, header [][2]string, body string) Case {
		return Case{Name: name, Header: header, Body: []byte(body)}
	}
	fd := ct("multipart/form-data; boundary=B")
	upload := mp("B", named("memo", "hello"), "Content-Disposition: form-data; name=\"file\"; filename=\"access_token.txt\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\xff\r\n\r\nbinary")
	return []Case{
		p("form", ct(form), "a=1&memo=access_token&user%5Baccess_token%5D=nested"),
		p("form, charset in other case and quoted, clean", ct(`Application/X-WWW-Form-URLEncoded; Charset="UTF-8"`), "a=1"),
		p("form, ISO-8859-1", ct(form+";charset=iso-8859-1"), "a=%E9"),
		p("form at body_limit", ct(form), "memo="+fill(limit-5)),
		p("no Content-Type at body_limit", nil, "memo="+fill(limit-5)),
		p("no Content-Type, not a form", nil, "\x00\x01binary\xff"),
		{Name: "chunked form", Header: ct(form), Body: []byte("a=1&b=2"), Chunked: true},
		{Name: "PUT form", Method: "PUT", Header: ct(form), Body: []byte("a=1")},
		{Name: "empty POST", Header: nil},
		{Name: "GET, an odd Content-Type but no body", Method: "GET", Header: ct(form + ", text/plain")},
		{Name: "DELETE without a body", Method: "DELETE"},
		{Name: "query", Method: "GET", Query: "a=1&memo=access_token"},
		p("multipart upload, file named access_token.txt", fd, string(upload)),
		p("multipart from Chrome", ct("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"), string(mp("----WebKitFormBoundary7MA4YWxkTrZu0gW", named("memo", "x")))),
		p("multipart from Firefox", ct("multipart/form-data; boundary=----geckoformboundary4f1e5c2b9a"), string(mp("----geckoformboundary4f1e5c2b9a", named("memo", "x")))),
		p("multipart, quoted boundary", ct(`multipart/form-data; boundary="a'(B)+_-./:=?"`), string(mp("a'(B)+_-./:=?", named("memo", "x")))),
		p("multipart, charset and boundary", ct("multipart/form-data; charset=UTF-8; boundary=B"), string(mp("B", named("memo", "x")))),
		p("multipart, upper-case type and header names", ct("Multipart/Form-Data; Boundary=B"), string(mp("B", "CONTENT-DISPOSITION: FORM-DATA; NAME=\"memo\"\r\ncontent-type: TEXT/PLAIN; CHARSET=utf-8\r\n\r\nx"))),
		p("multipart, every accepted part header", fd, string(mp("B", "Content-Disposition: form-data; name=memo; filename=\"r\u00e9sum\u00e9's notes.txt\"\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <memo@example>\r\n\r\nx"))),
		p("multipart from .NET's HttpClient (filename*)", ct(`multipart/form-data; boundary="0f6b8a52-3c1e-4c47-9d0e-2a9f5b1e7c11"`), string(mp("0f6b8a52-3c1e-4c47-9d0e-2a9f5b1e7c11", "Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=memo\r\n\r\nx", "Content-Type: application/octet-stream\r\nContent-Disposition: form-data; name=file; filename=\"access token.txt\"; filename*=utf-8''access%20token.txt\r\n\r\nbytes"))),
		p("multipart, a name in RFC 2047 (no parser decodes it)", fd, string(mp("B", named("=?UTF-8?B?YWNjZXNzX3Rva2Vu?=", "x")))),
		p("multipart, no CRLF after the close delimiter", fd, strings.TrimSuffix(string(mp("B", named("memo", "x"))), "\r\n")),
		p("multipart, no parts", fd, "--B--\r\n"),
		p("multipart, content like a head", fd, string(mp("B", named("memo", "\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nX")))),
		p("multipart/mixed batch", ct("multipart/mixed; boundary=batch_1"), string(mp("batch_1", "Content-Type: application/http\r\nContent-ID: <1>\r\n\r\nGET /a HTTP/1.1\r\n", "Content-Type: application/http\r\nContent-ID: <2>\r\n\r\nGET /b HTTP/1.1\r\n"))),
		p("multipart/related", ct("multipart/related; boundary=B"), string(mp("B", "Content-Type: application/json\r\nContent-ID: <root>\r\n\r\n{}", "Content-Type: image/png\r\nContent-ID: <img>\r\n\r\n\x89PNG"))),
		p("multipart at body_limit", fd, string(mp("B", named("memo", fill(limit-len(mp("B", named("memo", "")))))))),
		p("JSON naming access_token, over body_limit", ct("application/json; charset=utf-8"), `{"q":"&access_token=X","data":"`+fill(2*limit)+`"}`),
		p("text/plain that reads like a form", ct("text/plain"), "access_token=X"),
		p("binary, over body_limit", ct("application/octet-stream"), strings.Repeat("\x00\x01\xfe\xff", limit/2)),
		{Name: "chunked JSON", Header: ct("application/json"), Body: []byte(`{"access_token":"data"}`), Chunked: true},
		{Name: "gzip JSON", Header: append(ct("application/json"), [2]string{"Content-Encoding", "gzip"}), Body: gzipped(`{"a":1}`)},
	}
}

// gzipped is s compressed with gzip.
func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}
