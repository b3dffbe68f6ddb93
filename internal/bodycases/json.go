package bodycases

// The JSON bodies and requests a route that reads JSON members (`bind`, and
// `authorization_details`) is tested with: a body must mean the approved
// transaction {"amount": "500", "currency": "USD"} to every parser, or it
// is refused. The unit tests of enforce run them through the binding and
// the authorization details matcher; the whole-server tests send them to
// the built caddy.

// Approved is the transaction the cases are judged against.
var Approved = map[string]string{"amount": "500", "currency": "USD"}

// JSONBody is one body sent as `application/json`.
type JSONBody struct {
	Name string
	Body string
	// Match: every parser reads the approved transaction from it.
	Match bool
}

// JSONBodies are bodies an upstream parser could read as another
// transaction than the approved one (each refused), and the approved one
// written in ways every parser reads alike (each passes).
var JSONBodies = []JSONBody{
	{"same values as strings", `{"amount":"500","currency":"USD","memo":"rent"}`, true},
	{"amount as a number", `{"amount":500,"currency":"USD"}`, true},
	{"whitespace around", " \n{ \"amount\" : 500 , \"currency\" : \"USD\" }\r\n", true},
	{"escaped value", `{"amount":"\u0035\u0030\u0030","currency":"USD"}`, true},
	{"nested look-alike ignored", `{"amount":"500","currency":"USD","details":{"note":"x"}}`, true},
	{"JSON with a form inside a string", `{"amount":"500","currency":"USD","memo":"x&amount=5000"}`, true},
	{"ten times the amount", `{"amount":"5000","currency":"USD"}`, false},
	{"other currency", `{"amount":"500","currency":"EUR"}`, false},
	{"field missing", `{"amount":"500"}`, false},
	{"case-variant duplicate", `{"amount":"500","currency":"USD","Amount":"5000"}`, false},
	{"upper-case duplicate", `{"amount":"500","currency":"USD","AMOUNT":"5000"}`, false},
	{"long-s duplicate", `{"amount":"500","currency":"USD","\u017fum":"1","sum":"2"}`, false},
	{"Kelvin-sign duplicate", `{"amount":"500","currency":"USD","\u212aey":"1","key":"2"}`, false},
	{"first-wins duplicate", `{"amount":"5000","currency":"USD","amount":"500"}`, false},
	{"last-wins duplicate", `{"amount":"500","currency":"USD","amount":"5000"}`, false},
	{"escaped name duplicate", `{"amount":"500","currency":"USD","\u0061mount":"5000"}`, false},
	{"nested duplicate", `{"amount":"500","currency":"USD","x":{"a":1,"A":2}}`, false},
	{"amount as an object", `{"amount":{"v":500},"currency":"USD"}`, false},
	{"amount as an array", `{"amount":["500"],"currency":"USD"}`, false},
	{"amount true", `{"amount":true,"currency":"USD"}`, false},
	{"amount null", `{"amount":null,"currency":"USD"}`, false},
	{"number spelled differently", `{"amount":500.0,"currency":"USD"}`, false},
	{"number in exponent form", `{"amount":5e2,"currency":"USD"}`, false},
	{"number with a plus", `{"amount":+500,"currency":"USD"}`, false},
	{"number with a leading zero", `{"amount":0500,"currency":"USD"}`, false},
	{"negative", `{"amount":-500,"currency":"USD"}`, false},
	{"trailing second object", `{"amount":"500","currency":"USD"}{"amount":"5000"}`, false},
	{"trailing garbage", `{"amount":"500","currency":"USD"} &amount=5000`, false},
	{"array of objects", `[{"amount":"500","currency":"USD"}]`, false},
	{"form-encoded", `amount=500&currency=USD`, false},
	{"lone surrogate", `{"amount":"500","currency":"USD","memo":"\ud800"}`, false},
	{"invalid UTF-8", "{\"amount\":\"500\",\"currency\":\"USD\",\"memo\":\"\xff\"}", false},
	{"byte order mark", "\xef\xbb\xbf{\"amount\":\"500\",\"currency\":\"USD\"}", false},
	{"NUL-padded value", `{"amount":"500\u0000","currency":"USD"}`, false},
	{"value with a trailing space", `{"amount":"500 ","currency":"USD"}`, false},
	{"comment", `{"amount":"500", /* x */ "currency":"USD"}`, false},
	{"single quotes", `{'amount':'500','currency':'USD'}`, false},
	{"empty", ``, false},
}

// JSONRequest is the approved body sent with other headers or query.
type JSONRequest struct {
	Name         string
	ContentTypes []string // Content-Type lines
	Encodings    []string // Content-Encoding lines
	Query        string
	Match        bool
}

// JSONRequests: only one `application/json` (charset utf-8 at most), no
// Content-Encoding and no member the route reads in the query pass.
var JSONRequests = []JSONRequest{
	{"json", []string{"application/json"}, nil, "", true},
	{"json utf-8", []string{"application/json; charset=utf-8"}, nil, "", true},
	{"json UTF-8 quoted", []string{`Application/JSON; charset="UTF-8"`}, nil, "", true},
	{"other query parameter", []string{"application/json"}, nil, "ref=1", true},
	{"no content type", nil, nil, "", false},
	{"two content types", []string{"application/json", "application/json"}, nil, "", false},
	{"form", []string{"application/x-www-form-urlencoded"}, nil, "", false},
	{"text", []string{"text/plain"}, nil, "", false},
	{"json-ish", []string{"application/vnd.api+json"}, nil, "", false},
	{"latin-1", []string{"application/json; charset=iso-8859-1"}, nil, "", false},
	{"utf-16", []string{"application/json; charset=utf-16"}, nil, "", false},
	{"other parameter", []string{"application/json; foo=bar"}, nil, "", false},
	{"unparseable", []string{"application/json; charset"}, nil, "", false},
	{"gzip", []string{"application/json"}, []string{"gzip"}, "", false},
	{"identity encoding", []string{"application/json"}, []string{"identity"}, "", false},
	{"bound field in the query", []string{"application/json"}, nil, "amount=5000", false},
	{"bound field in the query, other case", []string{"application/json"}, nil, "Amount=5000", false},
	{"bound field in the query, encoded", []string{"application/json"}, nil, "am%6Funt=5000", false},
	{"bound field in the query, PHP's reading", []string{"application/json"}, nil, "amount[]=5000", false},
}
