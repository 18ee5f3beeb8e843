package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// peppered hashes values that are short or guessable by themselves (6-digit
// codes, backup codes, API key secrets) with a server-side key, so a copy of
// the database alone cannot confirm a guess.
type peppered struct{ key []byte }

func (p peppered) hash(purpose, value string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

func (p peppered) equal(purpose, value string, stored []byte) bool {
	return hmac.Equal(p.hash(purpose, value), stored)
}

// sixDigits returns a uniformly random 6-digit code from crypto/rand.
func sixDigits() (string, error) {
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		n := binary.BigEndian.Uint32(b[:])
		// Reject the tail so every code is equally likely.
		if n < (1<<32)/1_000_000*1_000_000 {
			return fmt.Sprintf("%06d", n%1_000_000), nil
		}
	}
}

const backupAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// backupCode returns a code like "k7fm-2xq9-hn4t" (about 70 bits).
func backupCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	for i, c := range buf {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		// 256 is not a multiple of 31: the slight bias is negligible at 70 bits.
		b.WriteByte(backupAlphabet[int(c)%len(backupAlphabet)])
	}
	return b.String(), nil
}

// normaliseBackupCode accepts codes typed with or without dashes, any case.
func normaliseBackupCode(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if len(s) != 12 {
		return ""
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12]
}
