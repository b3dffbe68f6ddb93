package enforce

import "testing"

// TestAccessTokenInEveryEncoding: every spelling some parser behind the
// gateway reads as access_token is found; other names are not.
func TestAccessTokenInEveryEncoding(t *testing.T) {
	found := []string{
		"access_token=x",
		"a=1&access_token=x",
		"a=1;access_token=x",
		"access_token",
		"access_token=",
		"ACCESS_TOKEN=x",
		"Access_Token=x",
		"access%5Ftoken=x",
		"access%5ftoken=x",
		"%61ccess_token=x",
		"%61%63%63%65%73%73%5F%74%6F%6B%65%6E=x",
		"access%255Ftoken=x",
		"access%25255Ftoken=x",
		"access%u005Ftoken=x",
		"access%U005ftoken=x",
		"access+token=x",
		"access%20token=x",
		"access.token=x",
		"access_token[]=x",
		"access_token[0]=x",
		"access_token%5B%5D=x",
		"+access_token=x",
		"%20access_token%20=x",
		"access_token%00=x",
		"acce%C5%BFs_token=x",    // long s, folds onto s
		"access_to%E2%84%AAen=x", // Kelvin sign, folds onto k
		"acce\u017fs_token=x",
		"b=2&c=3&access_token=x&d=4",
		"[access_token]=x",        // Rack and qs drop leading brackets
		"]]access_token=x",        // Rack
		"access_token]=x",         // Rack stops at "]"
		"%5Baccess_token%5D=x",    // the same, encoded
		"access[token=x",          // PHP: a "[" with no "]" is "_"
		"access_token%00junk=x",   // PHP cuts names at NUL
		"access_token%2500junk=x", // the same, double-encoded
		"\ufeffaccess_token=x",    // express drops a byte order mark
	}
	for _, q := range found {
		if !HasAccessToken(q) {
			t.Errorf("HasAccessToken(%q) = false", q)
		}
	}
	notFound := []string{
		"", "a=1", "my_access_token=x", "access_tokens=x", "access-token=x", "accesstoken=x",
		"x=access_token", "a=access_token%3Dx", "token=access_token", "access_toke=x",
		"access[token.=x", // PHP: access_token_
		"user[access_token]=x", "access[token]=x", "x[access_token=x", "access[tok]en=x", "[]=x", "[=x",
	}
	for _, q := range notFound {
		if HasAccessToken(q) {
			t.Errorf("HasAccessToken(%q) = true", q)
		}
	}
}

func TestHasParamFindsBoundFields(t *testing.T) {
	keys := []string{ParamKey("amount"), ParamKey("currency")}
	for q, want := range map[string]bool{
		"amount=5000": true, "Amount=5000": true, "AMOUNT=1": true, "am%6Funt=1": true, "amount[]=1": true,
		"currency=EUR": true, "ref=1": false, "amounts=1": false, "": false,
	} {
		if got := HasParam(q, keys...); got != want {
			t.Errorf("HasParam(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestPercentDecodeLeavesMalformedEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"%": "%", "%4": "%4", "%zz": "%zz", "%u12": "%u12", "%u12zz": "%u12zz", "a%41b": "aAb", "%u0041": "A", "a+b": "a b",
	} {
		if got := percentDecode(in); got != want {
			t.Errorf("percentDecode(%q) = %q, want %q", in, got, want)
		}
	}
}
