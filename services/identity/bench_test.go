package identity

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkBcryptCost12 is the raw price of one password check: the ceiling
// for logins per second per core.
func BenchmarkBcryptCost12(b *testing.B) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), BcryptCost)
	for b.Loop() {
		_ = bcrypt.CompareHashAndPassword(hash, []byte("correct horse battery staple"))
	}
}

// BenchmarkLogin is a whole password login against real Postgres and Redis:
// back-off checks, the bcrypt check, the session row, its audit event and
// the signed token.
func BenchmarkLogin(b *testing.B) {
	a := testAccounts(b)
	ctx := context.Background()
	id := mustUUID()
	hash, _ := hashPassword("correct horse battery staple")
	if _, err := a.db.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, email_verified_at)
		VALUES ($1, 'bench@example.com', 'B', $2, now())`, id, hash); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Login(ctx, "bench@example.com", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFailedLogin measures a failed login with the back-off out of the way,
// so every attempt reaches the password check.
func benchFailedLogin(b *testing.B, email string) {
	a := testAccounts(b)
	a.loginLimit.Free, a.ipLimit.Free = 1<<30, 1<<30
	ctx := context.Background()
	hash, _ := hashPassword("correct horse battery staple")
	if _, err := a.db.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, email_verified_at)
		VALUES ($1, 'known@example.com', 'K', $2, now())`, mustUUID(), hash); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Login(ctx, email, "not the right password"); err != ErrInvalidCredentials {
			b.Fatal(err)
		}
	}
}

// The two should cost the same: an unknown account is checked against a
// dummy bcrypt hash, so timing does not reveal which addresses exist.
func BenchmarkLoginWrongPasswordKnownAccount(b *testing.B) { benchFailedLogin(b, "known@example.com") }
func BenchmarkLoginUnknownAccount(b *testing.B)            { benchFailedLogin(b, "nobody@example.com") }
