package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/pythorix/pythorix/platform/redact"
)

// MaxEvidence bounds the evidence stored with a finding.
const MaxEvidence = 5 << 10

// Clean makes what a scanner saw fit to store: valid UTF-8 without NUL
// bytes, secrets redacted, and at most MaxEvidence bytes.
func Clean(s string) string { return redact.Text(s, MaxEvidence) }

// Fingerprint identifies a finding across scans: the same check at the
// same place (scheme, host and path of the location; the query and
// fragment are ignored) about the same subject.
func Fingerprint(checkID, location, subject string) string {
	loc := location
	if u, err := url.Parse(location); err == nil && u.Host != "" {
		loc = strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()
	}
	h := sha256.Sum256([]byte(checkID + "\x00" + loc + "\x00" + strings.ToLower(subject)))
	return hex.EncodeToString(h[:16])
}
