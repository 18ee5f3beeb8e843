package identity

import (
	"encoding/base32"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// RFC 6238 Appendix B: 8-digit codes, with the seed length each hash needs
// (20 bytes for SHA-1, 32 for SHA-256, 64 for SHA-512).
func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	seeds := map[otp.Algorithm]string{
		otp.AlgorithmSHA1:   "12345678901234567890",
		otp.AlgorithmSHA256: "12345678901234567890123456789012",
		otp.AlgorithmSHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, v := range vectors {
		for alg, code := range map[otp.Algorithm]string{otp.AlgorithmSHA1: v.sha1, otp.AlgorithmSHA256: v.sha256, otp.AlgorithmSHA512: v.sha512} {
			t.Run(strconv.FormatInt(v.unix, 10)+"/"+alg.String(), func(t *testing.T) {
				secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(seeds[alg]))
				step, ok := totpStep(secret, code, time.Unix(v.unix, 0), alg, otp.DigitsEight)
				if !ok || step != v.unix/30 {
					t.Fatalf("code %s: step %d ok %v, want step %d", code, step, ok, v.unix/30)
				}
			})
		}
	}
}

func TestTOTPSkewWindow(t *testing.T) {
	t.Parallel()
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	// The SHA-1 code for T=59 (step 1), checked at neighbouring steps.
	const code = "94287082"
	for _, tc := range []struct {
		at   int64
		want bool
	}{{29, true}, {59, true}, {89, true}, {119, false}, {150, false}} {
		_, ok := totpStep(secret, code, time.Unix(tc.at, 0), otp.AlgorithmSHA1, otp.DigitsEight)
		if ok != tc.want {
			t.Errorf("at %d: ok = %v, want %v", tc.at, ok, tc.want)
		}
	}
	if _, ok := totpStep(secret, "9428708", time.Unix(59, 0), otp.AlgorithmSHA1, otp.DigitsEight); ok {
		t.Error("a code of the wrong length was accepted")
	}
}
