package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseObjectAccepts(t *testing.T) {
	members, err := ParseObject([]byte(" \t\r\n{\"amount\":500, \"currency\" : \"USD\",\"note\":\"a\\u00e9\\ud83d\\ude00\\n\\\"\",\"n\":-0.5e+3,\"o\":{\"x\":[1,{\"y\":null}],\"X2\":true},\"f\":false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind Kind
		raw  string
		text string
	}{
		"amount":   {Number, "500", ""},
		"currency": {String, `"USD"`, "USD"},
		"note":     {String, `"a\u00e9\ud83d\ude00\n\""`, "aé😀\n\""},
		"n":        {Number, "-0.5e+3", ""},
		"o":        {Object, `{"x":[1,{"y":null}],"X2":true}`, ""},
		"f":        {False, "false", ""},
	}
	if len(members) != len(want) {
		t.Fatalf("members %v", members)
	}
	for name, w := range want {
		got := members[name]
		if got.Kind != w.kind || string(got.Raw) != w.raw || got.Text != w.text {
			t.Errorf("%s = %+v (raw %s), want %+v", name, got, got.Raw, w)
		}
	}
	if m, err := ParseObject([]byte("{}")); err != nil || len(m) != 0 {
		t.Errorf("{}: %v %v", m, err)
	}
}

func TestParseObjectRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want error
	}{
		{"exact duplicate", `{"amount":"500","amount":"5000"}`, ErrDuplicateName},
		{"case-fold duplicate", `{"amount":"500","Amount":"5000"}`, ErrDuplicateName},
		{"upper-case duplicate", `{"amount":"500","AMOUNT":"5000"}`, ErrDuplicateName},
		{"escaped duplicate", `{"amount":"500","\u0061mount":"5000"}`, ErrDuplicateName},
		{"escaped case duplicate", `{"amount":"500","\u0041mount":"5000"}`, ErrDuplicateName},
		{"Kelvin sign folds onto k", `{"kind":"a","\u212aind":"b"}`, ErrDuplicateName},
		{"long s folds onto s", `{"sum":"a","\u017fum":"b"}`, ErrDuplicateName},
		{"Greek final sigma", `{"\u03c3":"a","\u03c2":"b"}`, ErrDuplicateName},
		{"nested duplicate", `{"a":{"b":1,"B":2}}`, ErrDuplicateName},
		{"duplicate in array of objects", `{"a":[{"b":1,"b":2}]}`, ErrDuplicateName},
		{"trailing data", `{"a":1}{"a":2}`, ErrSyntax},
		{"trailing garbage", `{"a":1} x`, ErrSyntax},
		{"trailing comma", `{"a":1,}`, ErrSyntax},
		{"array at top", `[{"a":1}]`, ErrSyntax},
		{"string at top", `"a"`, ErrSyntax},
		{"empty", ``, ErrSyntax},
		{"only space", `   `, ErrSyntax},
		{"unquoted name", `{a:1}`, ErrSyntax},
		{"single quotes", `{'a':1}`, ErrSyntax},
		{"comment", `{"a":1 /* c */}`, ErrSyntax},
		{"NaN", `{"a":NaN}`, ErrSyntax},
		{"leading zero", `{"a":0500}`, ErrSyntax},
		{"plus sign", `{"a":+5}`, ErrSyntax},
		{"hex", `{"a":0x1F4}`, ErrSyntax},
		{"bare dot", `{"a":5.}`, ErrSyntax},
		{"bare exponent", `{"a":5e}`, ErrSyntax},
		{"raw control character", "{\"a\":\"x\x01\"}", ErrSyntax},
		{"raw newline in string", "{\"a\":\"x\ny\"}", ErrSyntax},
		{"bad escape", `{"a":"\x41"}`, ErrSyntax},
		{"short unicode escape", `{"a":"\u41"}`, ErrSyntax},
		{"lone high surrogate", `{"a":"\ud800"}`, ErrUTF8},
		{"lone low surrogate", `{"a":"\udc00"}`, ErrUTF8},
		{"high surrogate then letter", `{"a":"\ud800x"}`, ErrUTF8},
		{"two high surrogates", `{"a":"\ud800\ud800"}`, ErrUTF8},
		{"lone surrogate in a name", `{"\ud800":1}`, ErrUTF8},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ErrUTF8},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", ErrUTF8},
		{"UTF-8 surrogate bytes", "{\"a\":\"\xed\xa0\x80\"}", ErrUTF8},
		{"byte order mark", "\xef\xbb\xbf{\"a\":1}", ErrSyntax},
		{"unterminated", `{"a":"1`, ErrSyntax},
		{"literal typo", `{"a":nul}`, ErrSyntax},
		{"literal case", `{"a":True}`, ErrSyntax},
		// Strings below the top level are checked, not kept: the same rules.
		{"nested raw control character", "{\"a\":{\"b\":[\"x\x01\"]}}", ErrSyntax},
		{"nested bad escape", `{"a":["\x41"]}`, ErrSyntax},
		{"nested lone surrogate", `{"a":{"b":"ok","c":"\ud800"}}`, ErrUTF8},
		{"nested lone surrogate after a plain part", `{"a":["abc\udc00"]}`, ErrUTF8},
		{"nested unterminated", `{"a":["abc`, ErrSyntax},
		{"nested unterminated after an escape", `{"a":["a\n`, ErrSyntax},
		{"too deep", `{"a":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`, ErrTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseObject([]byte(tc.doc))
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFoldKey(t *testing.T) {
	same := [][]string{
		{"amount", "Amount", "AMOUNT", "aMoUnT"},
		{"kind", "KIND", "\u212aind"},
		{"sum", "SUM", "\u017fum"},
		{"\u03c3", "\u03a3", "\u03c2"},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if FoldKey(s) != FoldKey(group[0]) {
				t.Errorf("FoldKey(%q) = %q, FoldKey(%q) = %q", s, FoldKey(s), group[0], FoldKey(group[0]))
			}
			if !strings.EqualFold(s, group[0]) {
				t.Errorf("strings.EqualFold(%q, %q) is false: the test is wrong", s, group[0])
			}
		}
	}
	for _, pair := range [][2]string{{"amount", "amounts"}, {"a_b", "a-b"}, {"i", "\u0131"}} {
		if FoldKey(pair[0]) == FoldKey(pair[1]) {
			t.Errorf("FoldKey(%q) == FoldKey(%q)", pair[0], pair[1])
		}
	}
}

// FuzzParseObject compares with encoding/json: whatever this package
// accepts, encoding/json accepts with the same members and values, and
// nothing accepted has names that fold together.
func FuzzParseObject(f *testing.F) {
	for _, seed := range []string{
		`{"amount":"500","currency":"USD"}`, `{"a":{"b":[1,2,{"c":null}]}}`, `{"a":"\ud83d\ude00"}`,
		`{"a":1,"A":2}`, `{"a":"\ud800"}`, `{"a":-0.0e-0}`, "{\"a\":\"\xff\"}", `{"\u212a":1,"k":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := ParseObject(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted what encoding/json calls invalid: %q", data)
		}
		var std map[string]json.RawMessage
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("encoding/json: %v on %q", err, data)
		}
		if len(std) != len(members) {
			t.Fatalf("%d members, encoding/json has %d: %q", len(members), len(std), data)
		}
		folded := map[string]string{}
		for name, v := range members {
			if prev, ok := folded[FoldKey(name)]; ok {
				t.Fatalf("names %q and %q fold together: %q", prev, name, data)
			}
			folded[FoldKey(name)] = name
			if string(std[name]) != string(v.Raw) {
				t.Fatalf("%q: raw %q, encoding/json %q", name, v.Raw, std[name])
			}
			if v.Kind == String {
				var s string
				if err := json.Unmarshal(v.Raw, &s); err != nil || s != v.Text {
					t.Fatalf("%q: text %q, encoding/json %q (%v)", name, v.Text, s, err)
				}
			}
			var any1 any
			if err := json.Unmarshal(v.Raw, &any1); err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			if k := kindOf(any1); k != v.Kind {
				t.Fatalf("%q: kind %v, encoding/json %v", name, v.Kind, k)
			}
		}
	})
}

func kindOf(v any) Kind {
	switch x := v.(type) {
	case string:
		return String
	case float64:
		return Number
	case map[string]any:
		return Object
	case []any:
		return Array
	case bool:
		if x {
			return True
		}
		return False
	case nil:
		return Null
	}
	panic(reflect.TypeOf(v))
}

// TestParseObjectWithReadsNestedMembersInOnePass: the members of the named
// top-level objects, under the same rules at every depth.
func TestParseObjectWithReadsNestedMembersInOnePass(t *testing.T) {
	top, sub, err := ParseObjectWith([]byte(`{"method":"m","params":{"name":"n\u0061","arguments":{"x":"y"}},"other":{"a":1},"list":["p"]}`), "params", "list", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if top["params"].Kind != Object || string(top["params"].Raw) != `{"name":"n\u0061","arguments":{"x":"y"}}` || top["method"].Text != "m" {
		t.Errorf("top = %v", top)
	}
	if len(sub) != 1 || sub["params"]["name"].Text != "na" || sub["params"]["arguments"].Kind != Object {
		t.Errorf("sub = %v", sub)
	}
	for _, doc := range []string{
		`{"params":{"name":"a","name":"b"}}`,
		`{"params":{"name":"a","NAME":"b"}}`,
		`{"params":{"name":"a"},"params":{"name":"b"}}`,
		`{"params":{"name":"\ud800"}}`,
		`{"params":{"name":"a"}} x`,
	} {
		if _, _, err := ParseObjectWith([]byte(doc), "params"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestParseArray(t *testing.T) {
	got, err := ParseArray([]byte(` [ {"a":1}, "x", 2 ,[3] ] `))
	if err != nil || len(got) != 4 || got[0].Kind != Object || string(got[0].Raw) != `{"a":1}` || got[1].Text != "x" || got[2].Kind != Number || got[3].Kind != Array {
		t.Fatalf("Array = %+v, %v", got, err)
	}
	if got, err := ParseArray([]byte(`[]`)); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{`{}`, `[1,]`, `[1] [2]`, `[{"a":1,"A":2}]`, `["\ud800"]`, "[\"\xff\"]", `[1`, ``} {
		if _, err := ParseArray([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
