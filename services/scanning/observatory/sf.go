package observatory

// parseSFToken parses a header value as an RFC 8941 structured-field item
// and returns its bare item when that is a token; ok is false when the value
// is not a valid item or its bare item is not a token. Parameters are
// checked for syntax and ignored, as browsers do for COOP and COEP.
func parseSFToken(v string) (tok string, ok bool) {
	p := sfParser{s: v}
	p.skipSP()
	tok, isToken, ok := p.bareItem()
	if !ok || !p.params() {
		return "", false
	}
	p.skipSP()
	if p.i != len(p.s) {
		return "", false
	}
	return tok, isToken
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) peek() (byte, bool) {
	if p.i < len(p.s) {
		return p.s[p.i], true
	}
	return 0, false
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// bareItem parses one bare item; isToken tells whether it was a token.
func (p *sfParser) bareItem() (tok string, isToken, ok bool) {
	c, more := p.peek()
	if !more {
		return "", false, false
	}
	switch {
	case c == '-' || isDigit(c):
		return "", false, p.number()
	case c == '"':
		return "", false, p.str()
	case c == ':':
		return "", false, p.bytes()
	case c == '?':
		p.i++
		c, more = p.peek()
		if !more || (c != '0' && c != '1') {
			return "", false, false
		}
		p.i++
		return "", false, true
	case isAlpha(c) || c == '*':
		start := p.i
		p.i++
		for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return p.s[start:p.i], true, true
	}
	return "", false, false
}

func (p *sfParser) number() bool {
	if p.s[p.i] == '-' {
		p.i++
	}
	start, dot := p.i, -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isDigit(c) {
			p.i++
			continue
		}
		if c == '.' && dot < 0 && p.i > start {
			dot = p.i
			p.i++
			continue
		}
		break
	}
	n := p.i - start
	switch {
	case n == 0:
		return false
	case dot < 0:
		return n <= 15
	default:
		frac := p.i - dot - 1
		return dot-start <= 12 && frac >= 1 && frac <= 3
	}
}

func (p *sfParser) str() bool {
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return false
			}
			p.i++
		case c == '"':
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

func (p *sfParser) bytes() bool {
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		if c == ':' {
			return true
		}
		if !(isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return false
}

func (p *sfParser) params() bool {
	for {
		c, more := p.peek()
		if !more || c != ';' {
			return true
		}
		p.i++
		p.skipSP()
		c, more = p.peek()
		if !more || !(c >= 'a' && c <= 'z' || c == '*') {
			return false
		}
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c >= 'a' && c <= 'z' || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*' {
				p.i++
				continue
			}
			break
		}
		if c, more := p.peek(); more && c == '=' {
			p.i++
			if _, _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
}
