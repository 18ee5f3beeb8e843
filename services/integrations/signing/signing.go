// Package signing signs outbound webhooks per the Standard Webhooks
// specification and verifies inbound provider webhooks (Standard Webhooks,
// Slack request signing v0, Stripe-Signature), all HMAC-SHA256 with a
// replay window of Tolerance either side of now.
//
// Every check runs in the same order: headers present and well-formed, then
// the timestamp, then the signature, compared in constant time. Errors name
// headers but never carry secrets, signatures or header values.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrMissingHeader reports an absent or empty header; the error wraps it
	// with the header's name.
	ErrMissingHeader = errors.New("signing: missing header")
	// ErrTimestamp reports a timestamp that is malformed or further than
	// Tolerance from now, in either direction.
	ErrTimestamp = errors.New("signing: timestamp outside the tolerance")
	// ErrSignature reports a signature header that is malformed or holds no
	// signature matching the body.
	ErrSignature = errors.New("signing: no signature matches")
	// ErrSecret reports a secret that is not "whsec_" and base64 of 24 to 64
	// bytes, or an empty verification key.
	ErrSecret = errors.New("signing: malformed secret")
)

// Tolerance is how far a webhook's timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

const (
	secretPrefix = "whsec_"
	maxHeader    = 8 << 10 // bytes in one header value
	maxSigs      = 16      // signatures considered in one header
	maxTSDigits  = 12
)

// Verified is what a successful verification vouches for.
type Verified struct {
	// ID identifies the delivery for replay protection (see Replay): the
	// message id for Standard Webhooks, "slack:"+timestamp+":"+signature for
	// Slack and "stripe:"+t+":"+matching v1 for Stripe.
	ID string
	// Timestamp is the signed timestamp.
	Timestamp time.Time
}

// NewSecret returns a fresh Standard Webhooks secret: "whsec_" and the
// standard base64 of 32 random bytes.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// ParseSecret decodes a Standard Webhooks secret, "whsec_" and standard
// base64 (the prefix is optional), into a key of 24 to 64 bytes. Any other
// input yields ErrSecret.
func ParseSecret(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil || len(k) < 24 || len(k) > 64 {
		return nil, ErrSecret
	}
	return k, nil
}

// Sign returns the Standard Webhooks signature header value of a message:
// "v1,<base64 HMAC>" for each key, space-separated, so a receiver accepts
// the message under either secret while one rotates.
func Sign(keys [][]byte, msgID string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(standardMAC(k, msgID, ts.Unix(), body))
	}
	return strings.Join(sigs, " ")
}

// Headers returns the Standard Webhooks headers of a message: webhook-id,
// webhook-timestamp (unix seconds) and webhook-signature (see Sign).
func Headers(keys [][]byte, msgID string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", Sign(keys, msgID, ts, body))
	return h
}

// VerifyStandard checks a Standard Webhooks message against any of keys (the
// keys while a secret rotates). h holds the request headers by lowercased
// name: webhook-id, webhook-timestamp and webhook-signature, whose "v1,"
// entries are checked and other versions ignored.
func VerifyStandard(keys [][]byte, h map[string]string, body []byte, now time.Time) (Verified, error) {
	if err := checkKeys(keys...); err != nil {
		return Verified{}, err
	}
	id, err := header(h, "webhook-id", ErrSignature)
	if err != nil {
		return Verified{}, err
	}
	ts, err := timestamp(h, "webhook-timestamp")
	if err != nil {
		return Verified{}, err
	}
	sigHeader, err := header(h, "webhook-signature", ErrSignature)
	if err != nil {
		return Verified{}, err
	}
	var sigs [][]byte
	n := 0
	for entry := range strings.SplitSeq(sigHeader, " ") {
		if entry == "" {
			continue
		}
		if n++; n > maxSigs {
			break
		}
		v, ok := strings.CutPrefix(entry, "v1,")
		if !ok || len(v) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		if mac, err := base64.StdEncoding.Strict().DecodeString(v); err == nil && len(mac) == sha256.Size {
			sigs = append(sigs, mac)
		}
	}
	if len(sigs) == 0 {
		return Verified{}, malformed(ErrSignature, "webhook-signature")
	}
	if err := fresh(ts, now); err != nil {
		return Verified{}, err
	}
	for _, k := range keys {
		want := standardMAC(k, id, ts, body)
		for _, got := range sigs {
			if hmac.Equal(want, got) {
				return Verified{ID: id, Timestamp: time.Unix(ts, 0)}, nil
			}
		}
	}
	return Verified{}, ErrSignature
}

// VerifySlack checks a request signed by Slack (request signing v0) with
// the app's signing secret. h holds the request headers by lowercased name:
// x-slack-request-timestamp and x-slack-signature, "v0=" and the lowercase
// hex HMAC of "v0:"+timestamp+":"+body.
func VerifySlack(secret []byte, h map[string]string, body []byte, now time.Time) (Verified, error) {
	if err := checkKeys(secret); err != nil {
		return Verified{}, err
	}
	ts, err := timestamp(h, "x-slack-request-timestamp")
	if err != nil {
		return Verified{}, err
	}
	sig, err := header(h, "x-slack-signature", ErrSignature)
	if err != nil {
		return Verified{}, err
	}
	v, ok := strings.CutPrefix(sig, "v0=")
	got, okHex := decodeHex(v)
	if !ok || !okHex {
		return Verified{}, malformed(ErrSignature, "x-slack-signature")
	}
	if err := fresh(ts, now); err != nil {
		return Verified{}, err
	}
	tsText := h["x-slack-request-timestamp"]
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + tsText + ":"))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), got) {
		return Verified{}, ErrSignature
	}
	return Verified{ID: "slack:" + tsText + ":" + sig, Timestamp: time.Unix(ts, 0)}, nil
}

// VerifyStripe checks an event signed by Stripe with the endpoint's signing
// secret, used as is ("whsec_..." bytes, not decoded). h holds the request
// headers by lowercased name: stripe-signature, "t=<unix>,v1=<hex>,...", the
// hex HMAC of t+"."+body. Any matching v1 passes; other schemes are ignored.
func VerifyStripe(secret []byte, h map[string]string, body []byte, now time.Time) (Verified, error) {
	const name = "stripe-signature"
	if err := checkKeys(secret); err != nil {
		return Verified{}, err
	}
	v, err := header(h, name, ErrSignature)
	if err != nil {
		return Verified{}, err
	}
	var (
		tsText string
		sigs   [][]byte
		hexes  []string
		n      int
	)
	for item := range strings.SplitSeq(v, ",") {
		key, val, _ := strings.Cut(item, "=")
		switch key {
		case "t":
			if tsText != "" {
				return Verified{}, malformed(ErrTimestamp, name)
			}
			tsText = val
		case "v1":
			if n++; n > maxSigs {
				continue
			}
			if mac, ok := decodeHex(val); ok {
				sigs, hexes = append(sigs, mac), append(hexes, val)
			}
		}
	}
	ts, ok := parseTimestamp(tsText)
	if !ok {
		return Verified{}, malformed(ErrTimestamp, name)
	}
	if len(sigs) == 0 {
		return Verified{}, malformed(ErrSignature, name)
	}
	if err := fresh(ts, now); err != nil {
		return Verified{}, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tsText + "."))
	m.Write(body)
	want := m.Sum(nil)
	for i, got := range sigs {
		if hmac.Equal(want, got) {
			return Verified{ID: "stripe:" + tsText + ":" + hexes[i], Timestamp: time.Unix(ts, 0)}, nil
		}
	}
	return Verified{}, ErrSignature
}

func standardMAC(key []byte, msgID string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// checkKeys rejects a missing or empty key, which anyone could sign with.
func checkKeys(keys ...[]byte) error {
	if len(keys) == 0 {
		return ErrSecret
	}
	for _, k := range keys {
		if len(k) == 0 {
			return ErrSecret
		}
	}
	return nil
}

// header returns a present header of at most maxHeader bytes; an oversize
// one is malformed, reported as class.
func header(h map[string]string, name string, class error) (string, error) {
	v := h[name]
	switch {
	case v == "":
		return "", fmt.Errorf("%w: %s", ErrMissingHeader, name)
	case len(v) > maxHeader:
		return "", malformed(class, name)
	}
	return v, nil
}

func timestamp(h map[string]string, name string) (int64, error) {
	v, err := header(h, name, ErrTimestamp)
	if err != nil {
		return 0, err
	}
	ts, ok := parseTimestamp(v)
	if !ok {
		return 0, malformed(ErrTimestamp, name)
	}
	return ts, nil
}

// parseTimestamp accepts 1 to 12 decimal digits, nothing else.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTSDigits {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	return ts, err == nil
}

// decodeHex decodes a SHA-256 MAC written as 64 lowercase hex digits, the
// only spelling Slack and Stripe send.
func decodeHex(s string) ([]byte, bool) {
	if len(s) != hex.EncodedLen(sha256.Size) || strings.ContainsFunc(s, func(r rune) bool { return 'A' <= r && r <= 'F' }) {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func fresh(ts int64, now time.Time) error {
	d := now.Unix() - ts
	if lim := int64(Tolerance / time.Second); d > lim || d < -lim {
		return ErrTimestamp
	}
	return nil
}

func malformed(class error, name string) error {
	return fmt.Errorf("%w: malformed %s", class, name)
}
