package reading

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// This file is the strict gate every signed body passes before it is
// decoded: one body has one meaning. encoding/json on its own takes the last
// of two equal keys and matches keys case-insensitively (with Unicode
// folding), so `"seq":1,"SEQ":2` would decode as seq 2 while anyone reading
// the signed bytes sees 1. A signed body is refused (ErrMalformed) when it
// has
//
//   - a key its version does not define (unknown fields are refused in
//     signed bodies: a new field needs a new version);
//   - a key that differs from a defined one only in case (the same: it is
//     not the defined key);
//   - the same key twice in one object, or, in a free map (event attrs), two
//     keys equal under Unicode case folding;
//   - anything but white space after the value.
//
// check walks the bytes once against a shape; json.Unmarshal then decodes
// and judges the syntax in full.

// shape is the expected form of a JSON value.
type shape struct {
	fields []string          // an object with these keys only (in fieldIndex order)
	child  map[string]*shape // shapes of the fields' values; nil: any scalar
	elem   *shape            // an array of elem
	free   bool              // an object with any keys, no two equal under case folding
}

func object(fields []string, child map[string]*shape) *shape {
	return &shape{fields: fields, child: child}
}

// maxDepth bounds nesting where the shape allows any value.
const maxDepth = 64

var errStrict = errors.New("strict")

// checker scans one document.
type checker struct {
	b   []byte
	i   int
	err error
	// top records which fields of the top-level object were present, by
	// index into its shape's fields.
	top uint64
}

func (c *checker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{errStrict}, args...)...)
	}
}

// checkStrict checks data against s; present has bit i set when the
// top-level object held s.fields[i].
func checkStrict(data []byte, s *shape) (present uint64, err error) {
	c := &checker{b: data}
	c.ws()
	c.value(s, 0, true)
	c.ws()
	if c.err == nil && c.i != len(c.b) {
		c.fail("data after the JSON value at byte %d", c.i)
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.top, nil
}

func (c *checker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *checker) value(s *shape, depth int, top bool) {
	if c.err != nil {
		return
	}
	if depth > maxDepth {
		c.fail("nested deeper than %d", maxDepth)
		return
	}
	if c.i >= len(c.b) {
		c.fail("unexpected end of data")
		return
	}
	switch c.b[c.i] {
	case '{':
		c.object(s, depth, top)
	case '[':
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		c.array(elem, depth)
	case '"':
		c.str()
	default:
		c.scalar()
	}
}

func (c *checker) object(s *shape, depth int, top bool) {
	c.i++ // {
	var (
		seen   uint64
		folded map[string]bool // free maps: folded keys seen
		raw    map[string]bool // objects without a shape: keys seen
	)
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return
	}
	for c.err == nil {
		c.ws()
		key, ok := c.key()
		if !ok {
			return
		}
		var child *shape
		switch {
		case s != nil && s.free:
			if folded == nil {
				folded = make(map[string]bool)
			}
			f := foldKey(key)
			if folded[f] {
				c.fail("key %q twice (or twice up to case) in one object", key)
				return
			}
			folded[f] = true
		case s != nil && s.fields != nil:
			idx := -1
			for k, name := range s.fields {
				if name == key {
					idx = k
					break
				}
			}
			if idx < 0 {
				c.fail("unknown field %q", key)
				return
			}
			if seen&(1<<idx) != 0 {
				c.fail("field %q twice in one object", key)
				return
			}
			seen |= 1 << idx
			child = s.child[key]
		default:
			if raw == nil {
				raw = make(map[string]bool)
			}
			if raw[key] {
				c.fail("key %q twice in one object", key)
				return
			}
			raw[key] = true
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			c.fail("want ':' at byte %d", c.i)
			return
		}
		c.i++
		c.ws()
		c.value(child, depth+1, false)
		c.ws()
		if c.i >= len(c.b) {
			c.fail("unexpected end of data in an object")
			return
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			if top {
				c.top = seen
			}
			return
		default:
			c.fail("want ',' or '}' at byte %d", c.i)
			return
		}
	}
}

func (c *checker) array(elem *shape, depth int) {
	c.i++ // [
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return
	}
	for c.err == nil {
		c.ws()
		c.value(elem, depth+1, false)
		c.ws()
		if c.i >= len(c.b) {
			c.fail("unexpected end of data in an array")
			return
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			return
		default:
			c.fail("want ',' or ']' at byte %d", c.i)
			return
		}
	}
}

// key reads an object key and returns it unescaped.
func (c *checker) key() (string, bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		c.fail("want a key at byte %d", c.i)
		return "", false
	}
	start := c.i
	escaped := c.str()
	if c.err != nil {
		return "", false
	}
	raw := c.b[start:c.i]
	if !escaped {
		return string(raw[1 : len(raw)-1]), true
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		c.fail("key at byte %d: %v", start, err)
		return "", false
	}
	return k, true
}

// str skips a string and reports whether it held an escape.
func (c *checker) str() (escaped bool) {
	c.i++ // "
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case '"':
			c.i++
			return escaped
		case '\\':
			escaped = true
			c.i += 2
		default:
			if c.b[c.i] < 0x20 {
				c.fail("control character in a string at byte %d", c.i)
				return escaped
			}
			c.i++
		}
	}
	c.fail("unterminated string")
	return escaped
}

// scalar skips a number or literal; json.Unmarshal judges its syntax.
func (c *checker) scalar() {
	start := c.i
	for c.i < len(c.b) {
		switch b := c.b[c.i]; {
		case b >= '0' && b <= '9', b >= 'a' && b <= 'z', b == '-', b == '+', b == '.', b == 'E':
			c.i++
		default:
			if c.i == start {
				c.fail("unexpected %q at byte %d", b, c.i)
			}
			return
		}
	}
	if c.i == start {
		c.fail("unexpected end of data")
	}
}

// foldKey maps s to a form equal for all strings equal under Unicode simple
// case folding (strings.EqualFold): each rune becomes the smallest rune of
// its folding orbit.
func foldKey(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		out = utf8.AppendRune(out, m)
	}
	return string(out)
}

// topLevelInt returns the integer value of key name in the top-level object
// of data, without judging anything else. ok is false when data is not an
// object or has no such key; err is set when the key is there twice or its
// value is not an integer.
func topLevelInt(data []byte, name string) (v int, ok bool, err error) {
	c := &checker{b: data}
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '{' {
		return 0, false, nil
	}
	c.i++
	found := false
	for c.err == nil {
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == '}' {
			break
		}
		k, kok := c.key()
		if !kok {
			break
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			break
		}
		c.i++
		c.ws()
		start := c.i
		c.value(nil, 1, false)
		if c.err != nil {
			break
		}
		if k == name {
			if found {
				return 0, true, fmt.Errorf("%q twice", name)
			}
			found = true
			if err := json.Unmarshal(c.b[start:c.i], &v); err != nil {
				return 0, true, fmt.Errorf("%q is not an integer: %s", name, c.b[start:c.i])
			}
		}
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == ',' {
			c.i++
			continue
		}
		break
	}
	return v, found, nil
}
