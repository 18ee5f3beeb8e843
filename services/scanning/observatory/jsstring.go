package observatory

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Observatory runs on Node: header bytes arrive as Latin-1 text and its
// string functions (trim, split on \s, parseInt) use the ECMAScript notions
// of white space. These helpers reproduce that, so that a header the
// Observatory splits on a no-break space (byte 0xA0) splits here too.

// latin1 decodes header bytes the way Node does: one character per byte.
func latin1(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// isJSSpace reports whether r is white space or a line terminator for
// String.prototype.trim and the regular expression class \s.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

func jsTrim(s string) string { return strings.TrimFunc(s, isJSSpace) }

// jsFields splits like s.trim().split(/\s+/) for a non-empty s.
func jsFields(s string) []string { return strings.FieldsFunc(s, isJSSpace) }

// jsLower approximates toLowerCase/toLocaleLowerCase ("en"); the results
// differ only for characters that never matter to the comparisons made here.
func jsLower(s string) string { return strings.ToLower(s) }

// jsLen is the length of s in UTF-16 code units, as String.length counts.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// jsPrefix is s.slice(0, n): its first n UTF-16 code units.
func jsPrefix(s string, n int) string {
	units := 0
	for i, r := range s {
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

// jsParseInt is parseInt(s, 10); ok is false where it gives NaN.
func jsParseInt(s string) (v float64, ok bool) {
	s = strings.TrimLeftFunc(s, isJSSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return math.NaN(), false
	}
	v, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		// Only a range error is possible for a digit string: JavaScript
		// gives Infinity there, which ParseFloat also returns.
		v = math.Inf(1)
	}
	if neg {
		v = -v
	}
	return v, true
}

// decodeURIComponent reports the decoded text, or false where JavaScript
// throws a URIError (a malformed escape or escaped bytes that are not UTF-8).
func decodeURIComponent(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var out []byte
	var pending []byte // escaped bytes of one run, checked as UTF-8
	flush := func() bool {
		if len(pending) > 0 && !utf8.Valid(pending) {
			return false
		}
		out = append(out, pending...)
		pending = pending[:0]
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			if !flush() {
				return "", false
			}
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		pending = append(pending, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	if !flush() {
		return "", false
	}
	return string(out), true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
