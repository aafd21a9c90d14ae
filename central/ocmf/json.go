package ocmf

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small, lenient JSON reader for OCMF sections. It exists
// because real payloads are not always RFC 8259 JSON (raw control characters,
// unknown escapes such as \q, numbers with leading zeros like 0100.000,
// duplicate keys), and encoding/json rejects them. It only decodes values for
// display and billing; the signature is always checked over the raw bytes.

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 64

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	switch k {
	case jsonNull:
		return "null"
	case jsonBool:
		return "boolean"
	case jsonNumber:
		return "number"
	case jsonString:
		return "string"
	case jsonArray:
		return "array"
	case jsonObject:
		return "object"
	}
	return "unknown"
}

// jsonValue is one decoded value. raw is the exact source text of the value.
type jsonValue struct {
	kind    jsonKind
	raw     string
	str     string // decoded string, or the number literal
	boolean bool
	elems   []jsonValue  // array
	members []jsonMember // object, in source order, duplicates kept
}

type jsonMember struct {
	key string
	val jsonValue
}

// get returns the last member named key: with duplicate keys the last one
// wins, as in encoding/json and JavaScript.
func (v jsonValue) get(key string) (jsonValue, bool) {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].key == key {
			return v.members[i].val, true
		}
	}
	return jsonValue{}, false
}

// text returns a scalar as text: a string's decoded content, a number's
// literal, "true"/"false". ok is false for null, arrays and objects.
func (v jsonValue) text() (string, bool) {
	switch v.kind {
	case jsonString, jsonNumber:
		return v.str, true
	case jsonBool:
		return strconv.FormatBool(v.boolean), true
	}
	return "", false
}

// parseLenientJSON decodes exactly one value, optionally surrounded by
// whitespace.
func parseLenientJSON(data []byte) (jsonValue, error) {
	p := jsonParser{data: data}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return jsonValue{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return jsonValue{}, p.errorf("unexpected %q after the value", p.data[p.pos])
	}
	return v, nil
}

type jsonParser struct {
	data []byte
	pos  int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("json at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (jsonValue, error) {
	if depth > maxJSONDepth {
		return jsonValue{}, p.errorf("nested deeper than %d", maxJSONDepth)
	}
	if p.pos >= len(p.data) {
		return jsonValue{}, p.errorf("unexpected end of input")
	}
	start := p.pos
	var v jsonValue
	var err error
	switch c := p.data[p.pos]; {
	case c == '{':
		v, err = p.object(depth)
	case c == '[':
		v, err = p.array(depth)
	case c == '"':
		var s string
		s, err = p.string()
		v = jsonValue{kind: jsonString, str: s}
	case c == '-' || c == '+' || c == '.' || ('0' <= c && c <= '9'):
		v, err = p.number()
	case p.literal("true"):
		v = jsonValue{kind: jsonBool, boolean: true}
	case p.literal("false"):
		v = jsonValue{kind: jsonBool}
	case p.literal("null"):
		v = jsonValue{kind: jsonNull}
	default:
		return jsonValue{}, p.errorf("unexpected %q", c)
	}
	if err != nil {
		return jsonValue{}, err
	}
	v.raw = string(p.data[start:p.pos])
	return v, nil
}

func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *jsonParser) object(depth int) (jsonValue, error) {
	p.pos++ // '{'
	v := jsonValue{kind: jsonObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return jsonValue{}, p.errorf("object key is not a string")
		}
		key, err := p.string()
		if err != nil {
			return jsonValue{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return jsonValue{}, p.errorf("missing ':' after key %q", key)
		}
		p.pos++
		p.skipSpace()
		val, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		v.members = append(v.members, jsonMember{key: key, val: val})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return jsonValue{}, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return jsonValue{}, p.errorf("unexpected %q in object", p.data[p.pos])
		}
	}
}

func (p *jsonParser) array(depth int) (jsonValue, error) {
	p.pos++ // '['
	v := jsonValue{kind: jsonArray}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		elem, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		v.elems = append(v.elems, elem)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return jsonValue{}, p.errorf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return jsonValue{}, p.errorf("unexpected %q in array", p.data[p.pos])
		}
	}
}

// string decodes a string starting at the opening quote. Lenient: raw
// control characters are kept, an undefined escape \x yields x, invalid
// UTF-8 is kept as is.
func (p *jsonParser) string() (string, error) {
	p.pos++ // opening quote
	var buf []byte
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch c {
		case '"':
			p.pos++
			return string(buf), nil
		case '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.errorf("unterminated string")
			}
			e := p.data[p.pos+1]
			p.pos += 2
			switch e {
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					buf = append(buf, 'u') // like an undefined escape
					continue
				}
				if utf16.IsSurrogate(r) {
					save := p.pos
					if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
						p.pos += 2
						if r2, ok := p.hex4(); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								buf = utf8.AppendRune(buf, dec)
								continue
							}
						}
					}
					p.pos = save
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default: // '"', '\\', '/', and undefined escapes such as \q
				buf = append(buf, e)
			}
		default:
			buf = append(buf, c)
			p.pos++
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(n), true
}

// number reads a number literal without judging it: leading zeros, a '+'
// sign or an exponent are all kept as written. Values are interpreted later
// (ParseDecimal), so an odd literal costs that field, not the record.
func (p *jsonParser) number() (jsonValue, error) {
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if ('0' <= c && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.pos++
			continue
		}
		break
	}
	return jsonValue{kind: jsonNumber, str: string(p.data[start:p.pos])}, nil
}
