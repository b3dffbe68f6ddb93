package strictjson

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// The scalar values: literals, numbers as RFC 8259 writes them, and
// strings with their escapes (a surrogate pair is one rune, a lone
// surrogate refused).

func (p *jsonReader) literal(word string) error {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return ErrSyntax
	}
	p.pos += len(word)
	return nil
}

// number accepts exactly RFC 8259's grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (p *jsonReader) number() error {
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return ErrSyntax
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return ErrSyntax
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return ErrSyntax
		}
	}
	return nil
}

func (p *jsonReader) digits() int {
	start := p.pos
	for c := p.peek(); c >= '0' && c <= '9'; c = p.peek() {
		p.pos++
	}
	return p.pos - start
}

// str parses a string at p.pos and returns its decoded text. The document
// is already known to be valid UTF-8; escapes are checked here.
func (p *jsonReader) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", ErrSyntax
		}
		p.pos++
	}
	var b strings.Builder
	b.Write(p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", ErrSyntax
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		switch e := p.peek(); e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := p.unicodeEscape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
			continue
		default:
			return "", ErrSyntax
		}
		p.pos++
	}
	return "", ErrSyntax
}

// skipStr reads a string whose text no one keeps, under str's rules: one
// without escapes is only scanned, not copied.
func (p *jsonReader) skipStr() error {
	start := p.pos
	for i := p.pos + 1; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			return nil
		case c == '\\':
			i = len(p.data) // str decodes the escapes
		case c < 0x20:
			return ErrSyntax
		}
	}
	p.pos = start
	_, err := p.str()
	return err
}

// unicodeEscape reads \uXXXX (p.pos at the u), pairing surrogates; a lone
// surrogate is refused rather than turned into U+FFFD.
func (p *jsonReader) unicodeEscape() (rune, error) {
	r1, ok := p.hex4(p.pos + 1)
	if !ok {
		return 0, ErrSyntax
	}
	p.pos += 5
	if !utf16.IsSurrogate(r1) {
		return r1, nil
	}
	if r1 >= 0xDC00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
		return 0, ErrUTF8
	}
	r2, ok := p.hex4(p.pos + 2)
	if !ok {
		return 0, ErrSyntax
	}
	r := utf16.DecodeRune(r1, r2)
	if r == unicode.ReplacementChar {
		return 0, ErrUTF8
	}
	p.pos += 6
	return r, nil
}

func (p *jsonReader) hex4(at int) (rune, bool) {
	if at+4 > len(p.data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}
