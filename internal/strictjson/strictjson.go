// Package strictjson parses a JSON object so that every parser downstream
// reads it the same way. encoding/json is lenient where parsers disagree:
// it keeps the last of two duplicate names (others keep the first), matches
// struct fields case-insensitively (so "Amount" and "amount" are one field
// to it and two to a map), replaces invalid UTF-8 and lone surrogate
// escapes with U+FFFD, and reads null into a string as "". A document that
// could mean two things to two parsers is refused here instead.
//
// Rules, beyond RFC 8259: the document is one object, optionally surrounded
// by whitespace; it is valid UTF-8; no string holds an escaped lone
// surrogate (I-JSON, RFC 7493 §2.1); no object, at any depth, has two member
// names that are equal or equal under Unicode simple case folding; nesting
// is at most MaxDepth deep.
package strictjson

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays.
const MaxDepth = 64

// Kind is the JSON type of a value.
type Kind int

// Kinds of value.
const (
	String Kind = iota + 1
	Number
	Object
	Array
	True
	False
	Null
)

// Value is one member's value: its type, its bytes as written, and for a
// string its decoded text.
type Value struct {
	Kind Kind
	Raw  []byte // the value's exact bytes in the document
	Text string // the decoded string, for Kind String
}

// Members are the top-level members of an object, by exact name.
type Members map[string]Value

// Errors. Every refusal wraps ErrInvalid; the others say which rule.
var (
	ErrInvalid       = errors.New("strictjson: refused")
	ErrSyntax        = wrap("not one well-formed JSON object")
	ErrUTF8          = wrap("invalid UTF-8 or lone surrogate")
	ErrDuplicateName = wrap("duplicate member name, or two names equal under case folding")
	ErrTooDeep       = wrap("nested too deep")
)

type ruleError struct{ rule string }

func (e *ruleError) Error() string { return "strictjson: " + e.rule }
func (e *ruleError) Unwrap() error { return ErrInvalid }

func wrap(rule string) error { return &ruleError{rule} }

// ParseObject parses data as one JSON object under the package's rules and
// returns its top-level members.
func ParseObject(data []byte) (Members, error) {
	members, _, err := ParseObjectWith(data)
	return members, err
}

// ParseObjectWith is ParseObject that also returns, in one pass, the
// members of the top-level members named in nested whose values are
// objects (by name; absent for the others).
func ParseObjectWith(data []byte, nested ...string) (Members, map[string]Members, error) {
	if !utf8.Valid(data) {
		return nil, nil, ErrUTF8
	}
	p := jsonReader{data: data, nested: nested}
	if len(nested) > 0 {
		p.sub = map[string]Members{}
	}
	p.skipSpace()
	if p.peek() != '{' {
		return nil, nil, ErrSyntax
	}
	members := Members{}
	if err := p.object(0, members); err != nil {
		return nil, nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, nil, ErrSyntax
	}
	return members, p.sub, nil
}

// StringArray parses data as one JSON array of strings, under the same
// rules as ParseObject.
func StringArray(data []byte) ([]string, error) {
	if !utf8.Valid(data) {
		return nil, ErrUTF8
	}
	p := jsonReader{data: data}
	p.skipSpace()
	if p.peek() != '[' {
		return nil, ErrSyntax
	}
	p.pos++
	out := []string{}
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			if p.peek() != '"' {
				return nil, ErrSyntax
			}
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			p.skipSpace()
			if p.peek() == ']' {
				p.pos++
				break
			}
			if p.peek() != ',' {
				return nil, ErrSyntax
			}
			p.pos++
		}
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, ErrSyntax
	}
	return out, nil
}

// ParseArray parses data as one JSON array under the package's rules and
// returns its elements (each checked to the bottom, as ParseObject checks
// members).
func ParseArray(data []byte) ([]Value, error) {
	if !utf8.Valid(data) {
		return nil, ErrUTF8
	}
	p := jsonReader{data: data}
	p.skipSpace()
	if p.peek() != '[' {
		return nil, ErrSyntax
	}
	var out []Value
	if err := p.arrayInto(0, &out); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, ErrSyntax
	}
	return out, nil
}

type jsonReader struct {
	data []byte
	pos  int
	// nested names the top-level members whose object values' members go
	// in sub (ParseObjectWith).
	nested []string
	sub    map[string]Members
}

func (p *jsonReader) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *jsonReader) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses any value at p.pos (after whitespace). The text of a
// string is decoded only when keep asks for it (a top-level member's).
func (p *jsonReader) value(depth int, keep bool) (Value, error) {
	start := p.pos
	var v Value
	var err error
	switch c := p.peek(); {
	case c == '"' && keep:
		v.Kind = String
		v.Text, err = p.str()
	case c == '"':
		v.Kind = String
		err = p.skipStr()
	case c == '{':
		v.Kind = Object
		err = p.object(depth+1, nil)
	case c == '[':
		v.Kind = Array
		err = p.array(depth + 1)
	case c == '-' || (c >= '0' && c <= '9'):
		v.Kind = Number
		err = p.number()
	case c == 't':
		v.Kind = True
		err = p.literal("true")
	case c == 'f':
		v.Kind = False
		err = p.literal("false")
	case c == 'n':
		v.Kind = Null
		err = p.literal("null")
	default:
		err = ErrSyntax
	}
	if err != nil {
		return Value{}, err
	}
	v.Raw = p.data[start:p.pos]
	return v, nil
}

// object parses an object at p.pos; top, when not nil, receives its members.
func (p *jsonReader) object(depth int, top Members) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	p.pos++ // {
	folded := map[string]struct{}{}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		if p.peek() != '"' {
			return ErrSyntax
		}
		name, err := p.str()
		if err != nil {
			return err
		}
		key := FoldKey(name)
		if _, dup := folded[key]; dup {
			return ErrDuplicateName
		}
		folded[key] = struct{}{}
		p.skipSpace()
		if p.peek() != ':' {
			return ErrSyntax
		}
		p.pos++
		p.skipSpace()
		var v Value
		if depth == 0 && p.peek() == '{' && slices.Contains(p.nested, name) {
			start, inner := p.pos, Members{}
			if err := p.object(depth+1, inner); err != nil {
				return err
			}
			v = Value{Kind: Object, Raw: p.data[start:p.pos]}
			p.sub[name] = inner
		} else if v, err = p.value(depth, top != nil); err != nil {
			return err
		}
		if top != nil {
			top[name] = v
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return ErrSyntax
		}
	}
}

func (p *jsonReader) array(depth int) error { return p.arrayInto(depth, nil) }

// arrayInto parses an array at p.pos; out, when not nil, receives its
// elements.
func (p *jsonReader) arrayInto(depth int, out *[]Value) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	p.pos++ // [
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth, out != nil)
		if err != nil {
			return err
		}
		if out != nil {
			*out = append(*out, v)
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return ErrSyntax
		}
	}
}

// FoldKey maps s to a key shared by every string equal to s under Unicode
// simple case folding (what strings.EqualFold compares, and what
// case-insensitive JSON decoders such as encoding/json's struct decoding
// and ASP.NET's use): each rune becomes the smallest rune of its folding
// orbit, so "K", "k" and the Kelvin sign U+212A give the same key.
func FoldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// An ASCII letter's orbit minimum is its upper case (the Kelvin
		// sign and the long s, which fold onto k and s, are larger).
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		b.WriteRune(least)
	}
	return b.String()
}
