package observatory

import (
	"net/http"
	"sort"
	"strings"
)

// Bounds on the header data looked at; a response past them is hostile, and
// Node (16 KiB of headers by default) would have refused it anyway.
const (
	maxHeaderNames  = 256
	maxHeaderValues = 64
	maxHeaderBytes  = 32 << 10
	maxCookieLines  = 128
)

// firstWins lists the headers whose repeats Node drops (the first value
// wins); Node joins the repeats of every other header except Set-Cookie
// with ", ", and the Observatory reads that joined text.
var firstWins = map[string]bool{
	"content-type": true, "content-length": true, "user-agent": true, "referer": true, "host": true,
	"authorization": true, "proxy-authorization": true, "if-modified-since": true,
	"if-unmodified-since": true, "from": true, "location": true, "max-forwards": true,
	"retry-after": true, "etag": true, "last-modified": true, "server": true, "age": true, "expires": true,
}

// headerView is one response's headers as the Observatory sees them.
type headerView struct {
	joined  map[string]string   // lower-case name -> value (Node's view, Latin-1 decoded)
	raw     map[string][]string // lower-case name -> values as received, for evidence
	cookies []string            // Set-Cookie lines, Latin-1 decoded
	rawSet  []string            // Set-Cookie lines as received
}

func newHeaderView(h http.Header) headerView {
	v := headerView{joined: map[string]string{}, raw: map[string][]string{}}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	// A map built by hand may hold one name in two spellings; merge them in
	// a fixed order.
	sort.Strings(names)
	if len(names) > maxHeaderNames {
		names = names[:maxHeaderNames]
	}
	for _, name := range names {
		lc := strings.ToLower(name)
		vals := h[name]
		if len(vals) > maxHeaderValues {
			vals = vals[:maxHeaderValues]
		}
		for _, val := range vals {
			if len(val) > maxHeaderBytes {
				val = val[:maxHeaderBytes]
			}
			if lc == "set-cookie" {
				if len(v.cookies) < maxCookieLines {
					v.cookies = append(v.cookies, latin1(val))
					v.rawSet = append(v.rawSet, val)
				}
				continue
			}
			if len(v.raw[lc]) < maxHeaderValues {
				v.raw[lc] = append(v.raw[lc], val)
			}
			cur, seen := v.joined[lc]
			switch {
			case !seen:
				v.joined[lc] = latin1(val)
			case firstWins[lc]:
			case len(cur) < maxHeaderBytes:
				v.joined[lc] = cur + ", " + latin1(val)
			}
		}
	}
	return v
}

// get returns the header's value as Node presents it and whether it was sent.
func (v headerView) get(name string) (string, bool) {
	s, ok := v.joined[name]
	return s, ok
}

// evidence renders the received lines of a header as "Name: value".
func (v headerView) evidence(name string) string {
	vals := v.raw[name]
	if len(vals) == 0 {
		return ""
	}
	canon := http.CanonicalHeaderKey(name)
	lines := make([]string, len(vals))
	for i, val := range vals {
		lines[i] = canon + ": " + val
	}
	return strings.Join(lines, "\n")
}
