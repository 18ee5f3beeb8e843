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
