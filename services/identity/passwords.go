package identity

import (
	"strings"

	"github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/frequency"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is fixed by policy.
const BcryptCost = 12

// Password rules: 12 characters at least, 72 bytes at most (bcrypt's input
// limit: longer is refused, never truncated), no composition rules, and not
// guessable: neither in zxcvbn's list of common passwords nor scored below 2
// of 4 by its estimator (which also weighs the user's own email and name).
const (
	minPasswordRunes = 12
	maxPasswordBytes = 72
	minZxcvbnScore   = 2
)

var commonPasswords = func() map[string]struct{} {
	list := frequency.Lists["Passwords"].List
	m := make(map[string]struct{}, len(list))
	for _, p := range list {
		m[strings.ToLower(p)] = struct{}{}
	}
	return m
}()

// CheckPassword returns a reason the password is unacceptable, or "".
func CheckPassword(password string, userInputs ...string) string {
	switch {
	case len([]rune(password)) < minPasswordRunes:
		return "must be at least 12 characters"
	case len(password) > maxPasswordBytes:
		return "must be at most 72 bytes"
	}
	if _, common := commonPasswords[strings.ToLower(password)]; common {
		return "is a commonly used password"
	}
	if zxcvbn.PasswordStrength(password, userInputs).Score < minZxcvbnScore {
		return "is too easy to guess"
	}
	return ""
}

// dummyHash is compared against when an account does not exist, so that a
// login for an unknown email costs the same bcrypt as a known one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("pythorix-timing-equaliser"), BcryptCost)

func hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	return string(h), err
}

func passwordMatches(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}
