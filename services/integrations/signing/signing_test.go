package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Published test vector of the Standard Webhooks reference libraries.
const (
	stdSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	stdTS     = 1614265330
	stdBody   = `{"test": 2432232314}`
	stdSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// Published example of Slack's "Verifying requests from Slack".
const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTS     = 1531420618
	slackBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

const stripeSecret = "whsec_test_stripe_endpoint_secret"

var (
	stdNow    = time.Unix(stdTS, 0)
	slackNow  = time.Unix(slackTS, 0)
	stripeNow = time.Unix(1700000000, 0)
)

func mustKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return k
}

func hexMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func stdHeaders(sig string) map[string]string {
	return map[string]string{"webhook-id": stdID, "webhook-timestamp": strconv.Itoa(stdTS), "webhook-signature": sig}
}

func slackHeaders() map[string]string {
	return map[string]string{"x-slack-request-timestamp": strconv.Itoa(slackTS), "x-slack-signature": slackSig}
}

func stripeHeader(secret string, ts int64, body string) string {
	t := strconv.FormatInt(ts, 10)
	return "t=" + t + ",v1=" + hexMAC(secret, t+"."+body)
}

func TestStandardVector(t *testing.T) {
	k := mustKey(t, stdSecret)
	if got := Sign([][]byte{k}, stdID, stdNow, []byte(stdBody)); got != stdSig {
		t.Fatalf("Sign = %q, want %q", got, stdSig)
	}
	v, err := VerifyStandard([][]byte{k}, stdHeaders(stdSig), []byte(stdBody), stdNow)
	if err != nil {
		t.Fatalf("VerifyStandard: %v", err)
	}
	if v.ID != stdID || !v.Timestamp.Equal(stdNow) {
		t.Fatalf("Verified = %+v", v)
	}
}

func TestSlackVector(t *testing.T) {
	v, err := VerifySlack([]byte(slackSecret), slackHeaders(), []byte(slackBody), slackNow)
	if err != nil {
		t.Fatalf("VerifySlack: %v", err)
	}
	if want := "slack:" + strconv.Itoa(slackTS) + ":" + slackSig; v.ID != want || !v.Timestamp.Equal(slackNow) {
		t.Fatalf("Verified = %+v, want ID %q", v, want)
	}
}

func TestStripe(t *testing.T) {
	body := `{"id":"evt_1","object":"event"}`
	good := hexMAC(stripeSecret, "1700000000."+body)
	bad := hexMAC("whsec_other", "1700000000."+body)
	for name, hdr := range map[string]string{
		"single":           "t=1700000000,v1=" + good,
		"one of several":   "t=1700000000,v1=" + bad + ",v1=" + good + ",v0=" + bad,
		"other schemes":    "v0=" + bad + ",t=1700000000,x=y,v1=" + good,
		"t after the sigs": "v1=" + bad + ",v1=" + good + ",t=1700000000",
	} {
		t.Run(name, func(t *testing.T) {
			v, err := VerifyStripe([]byte(stripeSecret), map[string]string{"stripe-signature": hdr}, []byte(body), stripeNow)
			if err != nil {
				t.Fatalf("VerifyStripe: %v", err)
			}
			if want := "stripe:1700000000:" + good; v.ID != want || !v.Timestamp.Equal(stripeNow) {
				t.Fatalf("Verified = %+v, want ID %q", v, want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if k := mustKey(t, s); !strings.HasPrefix(s, "whsec_") || len(k) != 32 {
		t.Fatalf("NewSecret = %q (%d-byte key)", s, len(k))
	}
	if s2, _ := NewSecret(); s2 == s {
		t.Fatal("NewSecret repeated itself")
	}
	if k := mustKey(t, strings.TrimPrefix(stdSecret, "whsec_")); len(k) != 24 {
		t.Fatalf("unprefixed key is %d bytes", len(k))
	}
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, s := range []string{"", "whsec_", "whsec_" + b64(23), "whsec_" + b64(65), "whsec_not*base64!", "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)), "whsec_" + strings.Repeat("-_", 22)} {
		if _, err := ParseSecret(s); !errors.Is(err, ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecret", s, err)
		}
	}
	for _, n := range []int{24, 64} {
		if _, err := ParseSecret("whsec_" + b64(n)); err != nil {
			t.Errorf("ParseSecret of %d bytes: %v", n, err)
		}
	}
}

func TestHeadersAndRotation(t *testing.T) {
	oldK, newK := mustKey(t, stdSecret), mustKey(t, mustSecret(t))
	body := []byte(stdBody)
	h := Headers([][]byte{oldK, newK}, stdID, stdNow, body)
	if h.Get("webhook-id") != stdID || h.Get("webhook-timestamp") != strconv.Itoa(stdTS) {
		t.Fatalf("Headers = %v", h)
	}
	sigs := strings.Split(h.Get("webhook-signature"), " ")
	if len(sigs) != 2 || sigs[0] != stdSig || !strings.HasPrefix(sigs[1], "v1,") || sigs[1] == sigs[0] {
		t.Fatalf("webhook-signature = %q, want two v1 signatures", h.Get("webhook-signature"))
	}
	both := map[string]string{"webhook-id": stdID, "webhook-timestamp": h.Get("webhook-timestamp"), "webhook-signature": h.Get("webhook-signature")}
	for name, keys := range map[string][][]byte{"old": {oldK}, "new": {newK}, "both": {oldK, newK}} {
		if _, err := VerifyStandard(keys, both, body, stdNow); err != nil {
			t.Errorf("receiver with %s key: %v", name, err)
		}
	}
	// A receiver holding both keys accepts a sender that already moved on.
	if _, err := VerifyStandard([][]byte{oldK, newK}, stdHeaders(sigs[1]), body, stdNow); err != nil {
		t.Errorf("receiver with both keys, new signature only: %v", err)
	}
}

func mustSecret(t testing.TB) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifier runs one scheme on headers and a body, with the test's now.
type verifier func(h map[string]string, body string, now time.Time) error

type negCase struct {
	name string
	h    map[string]string
	body string
	now  time.Time
	want error
	// in must appear in the error message (a header's name).
	in string
}

func runNeg(t *testing.T, verify verifier, cases []negCase, secrets ...string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verify(c.h, c.body, c.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			msg := err.Error()
			if c.in != "" && !strings.Contains(msg, c.in) {
				t.Errorf("error %q does not name %q", msg, c.in)
			}
			for _, v := range c.h {
				if len(v) > 20 && strings.Contains(msg, v) {
					t.Errorf("error %q leaks a header value", msg)
				}
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("error %q leaks the secret", msg)
				}
			}
		})
	}
}

// with returns a copy of h with name set to v, or deleted when v is nil.
func with(h map[string]string, name string, v *string) map[string]string {
	h = maps.Clone(h)
	if v == nil {
		delete(h, name)
	} else {
		h[name] = *v
	}
	return h
}

func ptr(s string) *string { return &s }

// badTimestamps are malformed in every scheme.
var badTimestamps = []string{"", "+1614265330", "-1614265330", " 1614265330", "1614265330 ", "1614265330.0", "1e9", "0x60377b72", "1234567890123", "１６"}

func TestVerifyStandardRejects(t *testing.T) {
	k := mustKey(t, stdSecret)
	h := stdHeaders(stdSig)
	verify := func(h map[string]string, body string, now time.Time) error {
		_, err := VerifyStandard([][]byte{k}, h, []byte(body), now)
		return err
	}
	cases := []negCase{
		{name: "tampered body", h: h, body: stdBody + " ", now: stdNow, want: ErrSignature},
		{name: "6 min old", h: h, body: stdBody, now: stdNow.Add(6 * time.Minute), want: ErrTimestamp},
		{name: "6 min ahead", h: h, body: stdBody, now: stdNow.Add(-6 * time.Minute), want: ErrTimestamp},
		{name: "timestamp changed", h: with(h, "webhook-timestamp", ptr(strconv.Itoa(stdTS+1))), body: stdBody, now: stdNow, want: ErrSignature},
		{name: "id changed", h: with(h, "webhook-id", ptr(stdID+"x")), body: stdBody, now: stdNow, want: ErrSignature},
		{name: "oversize signature", h: with(h, "webhook-signature", ptr(strings.Repeat(stdSig+" ", 200))), body: stdBody, now: stdNow, want: ErrSignature, in: "webhook-signature"},
		{name: "oversize id", h: with(h, "webhook-id", ptr(strings.Repeat("a", 8<<10+1))), body: stdBody, now: stdNow, want: ErrSignature, in: "webhook-id"},
		{name: "17th signature ignored", h: with(h, "webhook-signature", ptr(strings.Repeat("v1a,xyz ", 16)+stdSig)), body: stdBody, now: stdNow, want: ErrSignature},
	}
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		cases = append(cases, negCase{name: "missing " + name, h: with(h, name, nil), body: stdBody, now: stdNow, want: ErrMissingHeader, in: name})
	}
	for _, ts := range badTimestamps[1:] {
		cases = append(cases, negCase{name: "timestamp " + ts, h: with(h, "webhook-timestamp", &ts), body: stdBody, now: stdNow, want: ErrTimestamp, in: "webhook-timestamp"})
	}
	for _, sig := range []string{"v1", "v1,", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v2," + stdSig[3:], "v1," + stdSig[3:len(stdSig)-1], "v1," + strings.TrimSuffix(stdSig[3:], "=") + "F", "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="} {
		cases = append(cases, negCase{name: "signature " + sig, h: with(h, "webhook-signature", &sig), body: stdBody, now: stdNow, want: ErrSignature})
	}
	runNeg(t, verify, cases, stdSecret)

	if _, err := VerifyStandard([][]byte{mustKey(t, mustSecret(t))}, h, []byte(stdBody), stdNow); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	for name, keys := range map[string][][]byte{"no keys": nil, "empty key": {k, {}}} {
		if _, err := VerifyStandard(keys, h, []byte(stdBody), stdNow); !errors.Is(err, ErrSecret) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, d := range []time.Duration{Tolerance, -Tolerance} {
		if _, err := VerifyStandard([][]byte{k}, h, []byte(stdBody), stdNow.Add(d)); err != nil {
			t.Errorf("at the edge of the tolerance (%v): %v", d, err)
		}
	}
	// Checks run in order: a stale timestamp is reported before a bad signature,
	// a malformed signature header before a stale timestamp.
	if _, err := VerifyStandard([][]byte{k}, h, []byte("tampered"), stdNow.Add(time.Hour)); !errors.Is(err, ErrTimestamp) {
		t.Errorf("stale and tampered: %v", err)
	}
	if _, err := VerifyStandard([][]byte{k}, with(h, "webhook-signature", ptr("v1,x")), []byte(stdBody), stdNow.Add(time.Hour)); !errors.Is(err, ErrSignature) {
		t.Errorf("stale and malformed: %v", err)
	}
}

func TestVerifySlackRejects(t *testing.T) {
	h := slackHeaders()
	verify := func(h map[string]string, body string, now time.Time) error {
		_, err := VerifySlack([]byte(slackSecret), h, []byte(body), now)
		return err
	}
	cases := []negCase{
		{name: "tampered body", h: h, body: slackBody + "&x=1", now: slackNow, want: ErrSignature},
		{name: "6 min old", h: h, body: slackBody, now: slackNow.Add(6 * time.Minute), want: ErrTimestamp},
		{name: "6 min ahead", h: h, body: slackBody, now: slackNow.Add(-6 * time.Minute), want: ErrTimestamp},
		{name: "timestamp changed", h: with(h, "x-slack-request-timestamp", ptr(strconv.Itoa(slackTS+1))), body: slackBody, now: slackNow, want: ErrSignature},
		{name: "oversize signature", h: with(h, "x-slack-signature", ptr(slackSig+strings.Repeat("0", 8<<10))), body: slackBody, now: slackNow, want: ErrSignature, in: "x-slack-signature"},
		{name: "oversize timestamp", h: with(h, "x-slack-request-timestamp", ptr(strings.Repeat("1", 8<<10+1))), body: slackBody, now: slackNow, want: ErrTimestamp, in: "x-slack-request-timestamp"},
	}
	for _, name := range []string{"x-slack-request-timestamp", "x-slack-signature"} {
		cases = append(cases, negCase{name: "missing " + name, h: with(h, name, nil), body: slackBody, now: slackNow, want: ErrMissingHeader, in: name})
	}
	for _, ts := range badTimestamps[1:] {
		cases = append(cases, negCase{name: "timestamp " + ts, h: with(h, "x-slack-request-timestamp", &ts), body: slackBody, now: slackNow, want: ErrTimestamp, in: "x-slack-request-timestamp"})
	}
	for _, sig := range []string{"v0", "v0=", slackSig[3:], "v1=" + slackSig[3:], slackSig[:66], slackSig + "0", strings.ToUpper(slackSig[:1]) + slackSig[1:], "v0=" + strings.ToUpper(slackSig[3:]), "v0=" + strings.Repeat("g", 64), slackSig + " "} {
		cases = append(cases, negCase{name: "signature " + sig, h: with(h, "x-slack-signature", &sig), body: slackBody, now: slackNow, want: ErrSignature})
	}
	runNeg(t, verify, cases, slackSecret)

	if _, err := VerifySlack([]byte("8f742231b10e8888abcd99yyyzzz85a6"), h, []byte(slackBody), slackNow); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := VerifySlack(nil, h, []byte(slackBody), slackNow); !errors.Is(err, ErrSecret) {
		t.Errorf("empty secret: %v", err)
	}
}

func TestVerifyStripeRejects(t *testing.T) {
	body := `{"id":"evt_1"}`
	good := stripeHeader(stripeSecret, stripeNow.Unix(), body)
	sig := good[strings.Index(good, "v1=")+3:]
	h := map[string]string{"stripe-signature": good}
	verify := func(h map[string]string, body string, now time.Time) error {
		_, err := VerifyStripe([]byte(stripeSecret), h, []byte(body), now)
		return err
	}
	hdr := func(s string) map[string]string { return map[string]string{"stripe-signature": s} }
	cases := []negCase{
		{name: "missing header", h: map[string]string{}, body: body, now: stripeNow, want: ErrMissingHeader, in: "stripe-signature"},
		{name: "tampered body", h: h, body: body + " ", now: stripeNow, want: ErrSignature},
		{name: "wrong secret", h: hdr(stripeHeader("whsec_other", stripeNow.Unix(), body)), body: body, now: stripeNow, want: ErrSignature},
		{name: "6 min old", h: h, body: body, now: stripeNow.Add(6 * time.Minute), want: ErrTimestamp},
		{name: "6 min ahead", h: h, body: body, now: stripeNow.Add(-6 * time.Minute), want: ErrTimestamp},
		{name: "t changed", h: hdr("t=1700000001,v1=" + sig), body: body, now: stripeNow, want: ErrSignature},
		{name: "no t", h: hdr("v1=" + sig), body: body, now: stripeNow, want: ErrTimestamp, in: "stripe-signature"},
		{name: "two t", h: hdr("t=1700000000,t=1700000000,v1=" + sig), body: body, now: stripeNow, want: ErrTimestamp},
		{name: "no v1", h: hdr("t=1700000000"), body: body, now: stripeNow, want: ErrSignature, in: "stripe-signature"},
		{name: "only v0", h: hdr("t=1700000000,v0=" + sig), body: body, now: stripeNow, want: ErrSignature},
		{name: "uppercase hex", h: hdr("t=1700000000,v1=" + strings.ToUpper(sig)), body: body, now: stripeNow, want: ErrSignature},
		{name: "short hex", h: hdr("t=1700000000,v1=" + sig[1:]), body: body, now: stripeNow, want: ErrSignature},
		{name: "spaces", h: hdr("t=1700000000, v1=" + sig), body: body, now: stripeNow, want: ErrSignature},
		{name: "oversize", h: hdr(good + strings.Repeat(",x=y", 2<<10)), body: body, now: stripeNow, want: ErrSignature, in: "stripe-signature"},
		{name: "17th v1 ignored", h: hdr("t=1700000000" + strings.Repeat(",v1="+strings.Repeat("0", 64), 16) + ",v1=" + sig), body: body, now: stripeNow, want: ErrSignature},
	}
	for _, ts := range badTimestamps {
		cases = append(cases, negCase{name: "timestamp " + ts, h: hdr("t=" + ts + ",v1=" + sig), body: body, now: stripeNow, want: ErrTimestamp, in: "stripe-signature"})
	}
	runNeg(t, verify, cases, stripeSecret)

	if _, err := VerifyStripe(nil, h, []byte(body), stripeNow); !errors.Is(err, ErrSecret) {
		t.Errorf("empty secret: %v", err)
	}
	if _, err := VerifyStripe([]byte(stripeSecret), hdr("t=1700000000"+strings.Repeat(",v1="+strings.Repeat("0", 64), 15)+",v1="+sig), []byte(body), stripeNow); err != nil {
		t.Errorf("16th v1: %v", err)
	}
}

func FuzzVerifyStandard(f *testing.F) {
	k := mustKey(f, stdSecret)
	f.Add(stdSig, strconv.Itoa(stdTS))
	f.Add("v1,x "+stdSig, strconv.Itoa(stdTS))
	f.Add(stdSig, strconv.Itoa(stdTS+1))
	f.Add(stdSig[:len(stdSig)-2]+"F=", strconv.Itoa(stdTS))
	f.Add("v1a,"+stdSig[3:]+"  v1,", "+1614265330")
	f.Add(strings.Repeat("v1, ", 20), "999999999999")
	f.Fuzz(func(t *testing.T, sig, ts string) {
		h := map[string]string{"webhook-id": stdID, "webhook-timestamp": ts, "webhook-signature": sig}
		v, err := VerifyStandard([][]byte{k}, h, []byte(stdBody), stdNow)
		if err != nil {
			return
		}
		want := Sign([][]byte{k}, stdID, v.Timestamp, []byte(stdBody))
		if ts != strconv.FormatInt(v.Timestamp.Unix(), 10) && strings.TrimLeft(ts, "0") != strconv.FormatInt(v.Timestamp.Unix(), 10) {
			t.Fatalf("verified timestamp %v from %q", v.Timestamp, ts)
		}
		n := 0
		for _, s := range strings.Split(sig, " ") {
			if s == "" {
				continue
			}
			if n++; n > 16 {
				break
			}
			if s == want {
				return
			}
		}
		t.Fatalf("verified %q without the real signature %q", sig, want)
	})
}

func FuzzVerifySlack(f *testing.F) {
	f.Add(slackSig, strconv.Itoa(slackTS))
	f.Add(slackSig, strconv.Itoa(slackTS)+" ")
	f.Add("v0="+strings.ToUpper(slackSig[3:]), strconv.Itoa(slackTS))
	f.Add("v0=", "0")
	f.Add(slackSig[:66]+"4", "01531420618")
	f.Fuzz(func(t *testing.T, sig, ts string) {
		h := map[string]string{"x-slack-request-timestamp": ts, "x-slack-signature": sig}
		if _, err := VerifySlack([]byte(slackSecret), h, []byte(slackBody), slackNow); err != nil {
			return
		}
		if want := "v0=" + hexMAC(slackSecret, "v0:"+ts+":"+slackBody); sig != want {
			t.Fatalf("verified %q (timestamp %q) without the real signature %q", sig, ts, want)
		}
	})
}

func FuzzVerifyStripe(f *testing.F) {
	body := `{"id":"evt_1"}`
	good := stripeHeader(stripeSecret, stripeNow.Unix(), body)
	f.Add(good)
	f.Add(good + ",v1=00,v0=zz")
	f.Add("v1=" + strings.Repeat("a", 64) + ",t=1700000000")
	f.Add("t=1700000000,t=1700000001,v1=")
	f.Add("t=+1700000000," + good[13:])
	f.Add(",,,=,t,v1")
	f.Fuzz(func(t *testing.T, hdr string) {
		v, err := VerifyStripe([]byte(stripeSecret), map[string]string{"stripe-signature": hdr}, []byte(body), stripeNow)
		if err != nil {
			return
		}
		tsText, sig, _ := strings.Cut(strings.TrimPrefix(v.ID, "stripe:"), ":")
		if sig != hexMAC(stripeSecret, tsText+"."+body) {
			t.Fatalf("verified %q with a wrong signature in ID %q", hdr, v.ID)
		}
		items := strings.Split(hdr, ",")
		if !slices.Contains(items, "t="+tsText) || !slices.Contains(items, "v1="+sig) {
			t.Fatalf("verified %q without the real signature (ID %q)", hdr, v.ID)
		}
	})
}
