package bodycases

import "strings"

// All returns every case for a gateway whose body_limit is limit bytes.
func All(limit int) []Case {
	cases := append(append(append(reported(), contentTypes()...), multipartBodies(limit)...), formBodies(limit)...)
	return append(cases, passes(limit)...)
}

// reported are the requests that reached PHP 8.2 or Rack 2.2 with a second
// access_token while the gateway answered 200, exactly as reported.
func reported() []Case {
	token := named("access_token", "X")
	return []Case{
		{Name: "POST without Content-Type", Body: []byte("a=1&access_token=X"), Want: BadRequest, Attack: true},
		{Name: "urlencoded, text/plain", Header: ct(form + ", text/plain"), Body: []byte("a=1&access_token=X"), Want: BadRequest, Attack: true},
		{Name: "urlencoded,", Header: ct(form + ","), Body: []byte("a=1&access_token=X"), Want: BadRequest, Attack: true},
		{Name: "urlencoded x", Header: ct(form + " x"), Body: []byte("a=1&access_token=X"), Want: BadRequest, Attack: true},
		{Name: "multipart/form-data, text/plain; boundary=B", Header: ct("multipart/form-data, text/plain; boundary=B"), Body: mp("B", token), Want: BadRequest, Attack: true},
		{Name: "multipart/mixed", Header: ct("multipart/mixed; boundary=B"), Body: mp("B", token), Want: BadRequest, Attack: true},
		{Name: "multipart/related", Header: ct("multipart/related; boundary=B"), Body: mp("B", token), Want: BadRequest, Attack: true},
		{Name: "xboundary=A; boundary=B, parts on A, none on B", Header: ct("multipart/form-data; xboundary=A; boundary=B"), Body: append(mp("A", token), mp("B")...), Want: BadRequest, Attack: true},
		{Name: "xboundary=A; boundary=B, parts on B", Header: ct("multipart/form-data; xboundary=A; boundary=B"), Body: mp("B", token), Want: BadRequest, Attack: true},
	}
}

// contentTypes are Content-Type lines other than one well-formed media type
// with only charset and boundary, each with a body that some parser reads
// an access_token from.
func contentTypes() []Case {
	body := []byte("a=1&access_token=X")
	token := mp("B", named("access_token", "X"))
	c := func(name, value string, body []byte) Case {
		return Case{Name: name, Header: ct(value), Body: body, Want: BadRequest, Attack: true}
	}
	return []Case{
		c("empty Content-Type", "", body),
		c("trailing semicolon", form+";", body),
		c("space before the semicolon", form+" ; charset=utf-8", body),
		c("unknown parameter", form+"; foo=bar", body),
		c("charset twice", form+"; charset=utf-8; charset=utf-8", body),
		c("charset without a value", form+"; charset", body),
		c("charset empty", form+"; charset=", body),
		c("charset quoted empty", form+`; charset=""`, body),
		c("charset with an escape", form+`; charset="utf\-8"`, body),
		c("boundary on a form", form+"; boundary=B", body),
		defensive(c("a list, the form second", "text/plain, "+form, body)),
		c("a list, the form first, no space", form+",text/plain", body),
		c("tab after the type", form+"\tx", body),
		defensive(c("type without subtype", "application", body)),
		defensive(c("UTF-16 form", form+"; charset=utf-16le", utf16le("a=1&access_token=X"))),
		{Name: "two Content-Type lines", Header: [][2]string{{"Content-Type", "application/json"}, {"content-type", form}}, Body: body, Want: BadRequest},
		{Name: "Content_Type spelled with an underscore", Header: [][2]string{{"Content_Type", "application/json"}}, Body: body, Want: BadRequest, Attack: true},
		c("multipart without boundary, the body a form", "multipart/mixed", body),
		c("multipart/form-data without boundary", "multipart/form-data", body),
		c("boundary twice", "multipart/form-data; boundary=B; boundary=C", token),
		c("boundary twice, other case", "multipart/form-data; boundary=B; BOUNDARY=C", token),
		defensive(c("boundary empty", "multipart/form-data; boundary=", token)),
		defensive(c("boundary quoted empty", `multipart/form-data; boundary=""`, token)),
		c("space before =", "multipart/form-data; boundary =B", token),
		c("space after =", "multipart/form-data; boundary= B", token),
		c("space after the boundary", "multipart/form-data; boundary=B ;charset=utf-8", token),
		c("boundary with a space", `multipart/form-data; boundary="B x"`, mp("B x", named("access_token", "X"))),
		c("boundary with a comma", `multipart/form-data; boundary="B,x"`, mp("B,x", named("access_token", "X"))),
		defensive(c("boundary with an escape", `multipart/form-data; boundary="B\x"`, mp("Bx", named("access_token", "X")))),
		c("boundary of 71 characters", "multipart/form-data; boundary="+strings.Repeat("b", 71), mp(strings.Repeat("b", 71), named("access_token", "X"))),
		c("boundary in the charset", "multipart/form-data; charset=boundary; boundary=B", token),
		c("boundary in an unknown parameter", "multipart/form-data; x=boundary; boundary=B", token),
		c("multipart, UTF-16", "multipart/form-data; charset=utf-16; boundary=B", token),
		defensive(c("binary with a name parameter", "application/octet-stream; name=access_token", body)),
	}
}

// multipartBodies are multipart bodies that are not read the same way by
// every parser, or carry an access_token part in some spelling.
func multipartBodies(limit int) []Case {
	fd := ct("multipart/form-data; boundary=B")
	c := func(name string, body string, attack bool) Case {
		return Case{Name: name, Header: fd, Body: []byte(body), Want: BadRequest, Attack: attack}
	}
	memo := named("memo", "hello")
	token := named("access_token", "X")
	return []Case{
		c("part access_token", string(mp("B", memo, token)), true),
		c("part after the close delimiter", string(mp("B", memo))+string(mp("B", token)), true),
		c("part in the preamble", "junk\r\n"+string(mp("B", token)), true),
		c("text after the close delimiter", string(mp("B", memo))+"bye", false),
		c("no close delimiter", "--B\r\n"+memo+"\r\n", false),
		defensive(c("a longer line starting with the delimiter", "--B\r\n"+named("memo", "a\r\n--BB\r\n"+token)+"\r\n--B--\r\n", false)),
		c("delimiter inside a line", "--B\r\n"+named("memo", "a--B--\r\n")+"\r\n--B\r\n"+token+"\r\n--B--\r\n", true),
		c("padding after a delimiter", "--B \r\n"+token+"\r\n--B--\r\n", true),
		c("LF line ends", strings.ReplaceAll(string(mp("B", memo, token)), "\r\n", "\n"), true),
		c("empty part head", string(mp("B", "\r\n"+named("access_token", "X"))), true),
		c("part without Content-Disposition", string(mp("B", "Content-Type: text/plain\r\n\r\nx")), false),
		c("filename and no name", string(mp("B", field(`form-data; filename="access_token"`, "X"))), true),
		c("name in single quotes", string(mp("B", field(`form-data; name='access_token'`, "X"))), true),
		c("a name inside the filename", string(mp("B", field(`form-data; name="memo"; filename="; name=access_token"`, "X"))), true),
		c("name twice", string(mp("B", field(`form-data; name="access_token"; name="memo"`, "X"))), true),
		c("name* (RFC 2231)", string(mp("B", field(`form-data; name="memo"; name*=UTF-8''access_token`, "X"))), true),
		c("filename* twice", string(mp("B", field(`form-data; name="memo"; filename*=UTF-8''a.txt; filename*=UTF-8''b.txt`, "X"))), false),
		c("filename* quoted", string(mp("B", field(`form-data; name="memo"; filename*="UTF-8''a.txt"`, "X"))), false),
		c("filename* in UTF-16", string(mp("B", field(`form-data; name="memo"; filename*=UTF-16''a.txt`, "X"))), false),
		c("upper-case NAME", string(mp("B", field(`form-data; NAME="access_token"`, "X"))), true),
		c("header in lower case", string(mp("B", "content-disposition: form-data; name=\"access_token\"\r\n\r\nX")), true),
		c("header and type in upper case", string(mp("B", "CONTENT-DISPOSITION: FORM-DATA; NAME=access_token\r\n\r\nX")), true),
		c("space before the colon", string(mp("B", "Content-Disposition : form-data; name=\"access_token\"\r\n\r\nX")), false),
		c("folded header", string(mp("B", "Content-Disposition: form-data;\r\n name=\"access_token\"\r\n\r\nX")), true),
		c("two Content-Disposition lines", string(mp("B", "Content-Disposition: form-data; name=\"memo\"\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nX")), false),
		c("another header before it", string(mp("B", "X-Note: Content-Disposition= form-data; name=access_token\r\n"+memo)), false),
		c("attachment disposition", string(mp("B", field(`attachment; name="access_token"`, "X"))), true),
		c("disposition without a type", string(mp("B", field(`name="access_token"`, "X"))), true),
		c("name access token (PHP: access_token)", string(mp("B", named("access token", "X"))), true),
		c("name access.token", string(mp("B", named("access.token", "X"))), true),
		c("name access[token", string(mp("B", named("access[token", "X"))), true),
		c("name [access_token] (Rack)", string(mp("B", named("[access_token]", "X"))), true),
		c("name access_token[]", string(mp("B", named("access_token[]", "X"))), true),
		c("name Access_Token", string(mp("B", named("Access_Token", "X"))), true),
		c("name percent-encoded", string(mp("B", named("access%5Ftoken", "X"))), false),
		c("name with a trailing space", string(mp("B", named("access_token ", "X"))), false),
		c("nested multipart", string(mp("B", "Content-Disposition: form-data; name=\"memo\"\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n"+string(mp("C", token)))), false),
		c("part in UTF-16", string(mp("B", "Content-Disposition: form-data; name=\"memo\"\r\nContent-Type: text/plain; charset=utf-16\r\n\r\nx")), false),
		{Name: "quoted boundary, part access_token", Header: ct(`multipart/form-data; boundary="B"`), Body: mp("B", token), Want: BadRequest, Attack: true},
		{Name: "upper-case BOUNDARY, part access_token", Header: ct("Multipart/Form-Data; BOUNDARY=B"), Body: mp("B", token), Want: BadRequest, Attack: true},
		{Name: "Content-ID access_token (multipart/related)", Header: ct("multipart/related; boundary=B"), Body: mp("B", "Content-ID: access_token\r\n\r\nX"), Want: BadRequest, Attack: true},
		{Name: "Content-Type access_token (multipart/mixed)", Header: ct("multipart/mixed; boundary=B"), Body: mp("B", "Content-Type: access_token\r\n\r\nX"), Want: BadRequest, Attack: true},
		{Name: "filename* access_token and no name (multipart/mixed)", Header: ct("multipart/mixed; boundary=B"), Body: mp("B", field(`attachment; filename*=UTF-8''access_token`, "X")), Want: BadRequest, Attack: true},
		{Name: "filename access_token (multipart/mixed)", Header: ct("multipart/mixed; boundary=B"), Body: mp("B", field(`attachment; filename="access_token"`, "X")), Want: BadRequest, Attack: true},
		{Name: "multipart/x-custom, part access_token", Header: ct("multipart/x-custom; boundary=B"), Body: mp("B", token), Want: BadRequest},
		{Name: "multipart access_token at the end of body_limit", Header: fd, Body: mp("B", named("memo", fill(limit-len(mp("B", named("memo", ""), token)))), token), Want: BadRequest, Attack: true},
		{Name: "multipart over body_limit", Header: fd, Body: mp("B", named("memo", fill(limit))), Want: TooLarge},
	}
}

// formBodies are urlencoded bodies (or bodies without a Content-Type) with
// an access_token some parser reads, other methods, chunked bodies, and
// sizes at and over the limit.
func formBodies(limit int) []Case {
	c := func(name, body string) Case {
		return Case{Name: name, Header: ct(form), Body: []byte(body), Want: BadRequest, Attack: true}
	}
	return []Case{
		c("form access_token", "a=1&access_token=X"),
		c("form [access_token] (Rack, qs)", "[access_token]=X"),
		c("form access[token (PHP)", "access[token=X"),
		c("form NUL after the name (PHP)", "access_token%00x=X"),
		c("form space after & (Rack)", "a=1& access_token=X"),
		c("form starting with a byte order mark (express)", "\ufeffaccess_token=X"),
		c("form access%5Ftoken", "access%5Ftoken=X"),
		defensive(c("form double-encoded", "access%255Ftoken=X")),
		c("form access+token (PHP)", "access+token=X"),
		defensive(c("form semicolon", "a=1;access_token=X")),
		{Name: "form, charset in other case and quoted", Header: ct(`Application/X-WWW-Form-URLEncoded; Charset="UTF-8"`), Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "query [access_token]", Method: "GET", Query: "[access_token]=X", Want: BadRequest, Attack: true},
		{Name: "query access[token", Method: "GET", Query: "access[token=X", Want: BadRequest, Attack: true},
		{Name: "PUT form", Method: "PUT", Header: ct(form), Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "PATCH form", Method: "PATCH", Header: ct(form), Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "DELETE form", Method: "DELETE", Header: ct(form), Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "GET with a form body", Method: "GET", Header: ct(form), Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "PUT without Content-Type", Method: "PUT", Body: []byte("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "chunked, no Content-Type", Body: []byte("a=1&access_token=X"), Chunked: true, Want: BadRequest, Attack: true},
		{Name: "chunked form", Header: ct(form), Body: []byte("a=1&access_token=X"), Chunked: true, Want: BadRequest, Attack: true},
		{Name: "gzip form", Header: append(ct(form), [2]string{"Content-Encoding", "gzip"}), Body: gzipped("access_token=X"), Want: BadRequest, Attack: true},
		{Name: "gzip without Content-Type", Header: [][2]string{{"Content-Encoding", "gzip"}}, Body: gzipped("access_token=X"), Want: BadRequest},
		{Name: "form access_token at the end of body_limit", Header: ct(form), Body: []byte("memo=" + fill(limit-5-len("&access_token=X")) + "&access_token=X"), Want: BadRequest, Attack: true},
		{Name: "form over body_limit", Header: ct(form), Body: []byte("memo=" + fill(limit-4)), Want: TooLarge},
		{Name: "no Content-Type over body_limit", Body: []byte("memo=" + fill(limit-4)), Want: TooLarge},
		{Name: "chunked form over body_limit", Header: ct(form), Body: []byte("memo=" + fill(limit-4)), Chunked: true, Want: TooLarge},
	}
}
