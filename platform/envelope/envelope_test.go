package envelope_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/pythorix/pythorix/platform/envelope"
)

func key(t testing.TB) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestSealOpenAndBinding(t *testing.T) {
	t.Parallel()
	k1 := key(t)
	ring, err := envelope.ParseKeyring("k1:" + k1)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	blob, err := ring.Seal(secret, []byte("identity/totp/user-a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := ring.Open(blob, []byte("identity/totp/user-a"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := ring.Open(blob, []byte("identity/totp/user-b")); !errors.Is(err, envelope.ErrDecrypt) {
		t.Fatalf("a ciphertext moved to another record opened: %v", err)
	}
	for i := range blob {
		tampered := bytes.Clone(blob)
		tampered[i] ^= 0x01
		if _, err := ring.Open(tampered, []byte("identity/totp/user-a")); err == nil {
			t.Fatalf("tampering byte %d went unnoticed", i)
		}
	}
	if _, err := ring.Open(blob[:len(blob)-1], []byte("identity/totp/user-a")); err == nil {
		t.Fatal("truncation went unnoticed")
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := key(t), key(t)
	old, _ := envelope.ParseKeyring("k1:" + k1)
	blob, err := old.Seal([]byte("s3cret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := envelope.ParseKeyring("k2:" + k2 + ",k1:" + k1)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rotated.Open(blob, []byte("aad")); err != nil || string(pt) != "s3cret" {
		t.Fatalf("old ciphertext under rotated ring: %q %v", pt, err)
	}
	re, err := rotated.Rewrap(blob, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := envelope.KeyID(re); kid != "k2" {
		t.Fatalf("rewrapped under %q", kid)
	}
	only2, _ := envelope.ParseKeyring("k2:" + k2)
	if pt, err := only2.Open(re, []byte("aad")); err != nil || string(pt) != "s3cret" {
		t.Fatalf("rewrapped ciphertext without the old key: %q %v", pt, err)
	}
}

func TestParseKeyringRejects(t *testing.T) {
	t.Parallel()
	for name, spec := range map[string]string{
		"empty": "", "no kid": key(t), "short key": "k:" + base64.StdEncoding.EncodeToString([]byte("short")),
		"bad kid": "k/1:" + key(t), "duplicate": "a:" + key(t) + ",a:" + key(t), "not base64": "k:%%%",
	} {
		if _, err := envelope.ParseKeyring(spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzOpen(f *testing.F) {
	ring, _ := envelope.ParseKeyring("k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	blob, _ := ring.Seal([]byte("x"), nil)
	f.Add(blob)
	f.Add([]byte{1, 2, 'k', '1', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ring.Open(b, nil)
		_, _ = ring.Rewrap(b, nil)
	})
}
