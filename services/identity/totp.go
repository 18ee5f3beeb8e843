package identity

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP follows RFC 6238 as authenticator apps implement it: SHA-1, 6 digits,
// 30-second steps, one step of skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
)

// totpStep returns the time step a code matches within the skew window, or
// false. Comparison is constant-time; the caller must still refuse a step at
// or before the last one accepted, so a code is never accepted twice.
func totpStep(secret, code string, now time.Time, alg otp.Algorithm, digits otp.Digits) (int64, bool) {
	if len(code) != digits.Length() {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	var found int64
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := current + d
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: digits, Algorithm: alg})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// newTOTPKey creates a 160-bit secret and its otpauth:// URL.
func newTOTPKey(account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: "Pythorix", AccountName: account, Period: totpPeriod, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

var (
	otpSHA1 = otp.AlgorithmSHA1
	otpSix  = otp.DigitsSix
)
