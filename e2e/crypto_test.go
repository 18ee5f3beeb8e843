package e2e_test

import (
	"context"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// mathRandAllowed are the non-test files that may use math/rand, and why:
// none of them makes a secret, a code, a token or an identifier.
var mathRandAllowed = map[string]string{
	"services/scanning/queue.go": "jitter of a snoozed scan job",
}

// TestSecretsComeFromCryptoRand fails when a non-test file of the project
// imports math/rand (or math/rand/v2) without being listed above: codes,
// tokens, keys, seeds and identifiers must come from crypto/rand (ASVS
// V6.5.3, V11.5.1).
func TestSecretsComeFromCryptoRand(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "gen" || strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "node_modules" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != "math/rand" && p != "math/rand/v2" {
				continue
			}
			seen[rel] = true
			if _, ok := mathRandAllowed[rel]; !ok {
				t.Errorf("%s imports %s: use crypto/rand, or list the file in mathRandAllowed with the reason", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range mathRandAllowed {
		if !seen[rel] {
			t.Errorf("%s is allowed math/rand but no longer uses it: drop it from the list", rel)
		}
	}
}

// TestPasswordsAreStoredWithBcryptCost12 reads the stored hash of a new
// account and of a changed password (ASVS V11.4.2).
func TestPasswordsAreStoredWithBcryptCost12(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)
	s.signup(t, "cost@example.com", goodPassword)
	tok, _ := s.login(t, "cost@example.com", goodPassword)
	stored := func() string {
		var h string
		if err := s.db(t, "identity").QueryRow(context.Background(),
			`SELECT password_hash FROM users WHERE email = $1`, "cost@example.com").Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := stored()
	if cost, err := bcrypt.Cost([]byte(first)); err != nil || cost < 12 {
		t.Fatalf("signup: bcrypt cost %d (%v), want 12 or more", cost, err)
	}
	if code, out := s.req(t, "POST", "/v1/me/password", map[string]any{"currentPassword": goodPassword,
		"newPassword": "another long memorable passphrase"}, tok, ""); code != 200 {
		t.Fatalf("change password: %d %v", code, out)
	}
	second := stored()
	if cost, err := bcrypt.Cost([]byte(second)); err != nil || cost < 12 || second == first {
		t.Fatalf("changed password: bcrypt cost %d (%v), new hash %v", cost, err, second != first)
	}
}
