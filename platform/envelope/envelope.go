package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Keyring holds key-encryption keys by id; the first one listed seals.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ErrDecrypt is returned for any ciphertext that does not open: wrong key,
// wrong associated data, tampering or truncation. It says nothing more.
var ErrDecrypt = errors.New("envelope: cannot decrypt")

// ParseKeyring reads "kid:base64key[,kid:base64key...]" (standard or URL
// base64, 32-byte keys). The first key is used to seal; all of them open.
func ParseKeyring(spec string) (*Keyring, error) {
	k := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		kid, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !kidPattern.MatchString(kid) {
			return nil, fmt.Errorf("envelope: key %d: want kid:base64key with kid of [A-Za-z0-9_-]{1,32}", i+1)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("envelope: key %q: want 32 bytes of base64", kid)
		}
		if _, dup := k.keys[kid]; dup {
			return nil, fmt.Errorf("envelope: key id %q appears twice", kid)
		}
		aead, err := newGCM(raw)
		if err != nil {
			return nil, err
		}
		k.keys[kid] = aead
		if i == 0 {
			k.current = kid
		}
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return cipher.NewGCM(block)
}

// Current is the id of the sealing key.
func (k *Keyring) Current() string { return k.current }

const version = 1

// Seal encrypts plaintext under a fresh data key. aad must identify the
// record and field (e.g. "identity/totp/<user id>"): a ciphertext copied to
// another record will not open there.
//
// Layout: version(1) | len(kid)(1) | kid | len(wrapped)(2) | wrapped data key
// (nonce | GCM(data key)) | nonce | GCM(plaintext).
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, err
	}
	defer clear(dek)
	wrapped, err := seal(k.keys[k.current], dek, wrapAAD(k.current, aad))
	if err != nil {
		return nil, err
	}
	data, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	body, err := seal(data, plaintext, aad)
	if err != nil {
		return nil, err
	}
	return assemble(k.current, wrapped, body), nil
}

func assemble(kid string, wrapped, body []byte) []byte {
	out := make([]byte, 0, 4+len(kid)+len(wrapped)+len(body))
	out = append(out, version, byte(len(kid)))
	out = append(out, kid...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	out = append(out, wrapped...)
	return append(out, body...)
}

// unwrap splits a ciphertext and recovers its data key with the KEK that wrapped it.
func (k *Keyring) unwrap(blob, aad []byte) (kid string, dek, body []byte, err error) {
	kid, wrapped, body, err := split(blob)
	if err != nil {
		return "", nil, nil, ErrDecrypt
	}
	kek, ok := k.keys[kid]
	if !ok {
		return "", nil, nil, ErrDecrypt
	}
	if dek, err = open(kek, wrapped, wrapAAD(kid, aad)); err != nil {
		return "", nil, nil, ErrDecrypt
	}
	return kid, dek, body, nil
}

// Open decrypts what Seal produced with the same aad.
func (k *Keyring) Open(blob, aad []byte) ([]byte, error) {
	_, dek, body, err := k.unwrap(blob, aad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	data, err := newGCM(dek)
	if err != nil {
		return nil, ErrDecrypt
	}
	pt, err := open(data, body, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Rewrap re-encrypts only the data key under the current KEK: the rotation
// step, which never touches the secret itself.
func (k *Keyring) Rewrap(blob, aad []byte) ([]byte, error) {
	kid, dek, body, err := k.unwrap(blob, aad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if kid == k.current {
		return blob, nil
	}
	rewrapped, err := seal(k.keys[k.current], dek, wrapAAD(k.current, aad))
	if err != nil {
		return nil, err
	}
	return assemble(k.current, rewrapped, body), nil
}

// KeyID reports which KEK wrapped a ciphertext.
func KeyID(blob []byte) (string, error) {
	kid, _, _, err := split(blob)
	return kid, err
}

func split(blob []byte) (kid string, wrapped, body []byte, err error) {
	if len(blob) < 2 || blob[0] != version {
		return "", nil, nil, ErrDecrypt
	}
	n := int(blob[1])
	if len(blob) < 2+n+2 {
		return "", nil, nil, ErrDecrypt
	}
	kid = string(blob[2 : 2+n])
	rest := blob[2+n:]
	w := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) < w {
		return "", nil, nil, ErrDecrypt
	}
	return kid, rest[:w], rest[w:], nil
}

// The data key's associated data binds it to both the KEK id and the record.
func wrapAAD(kid string, aad []byte) []byte {
	return append([]byte("pythorix-dek:"+kid+":"), aad...)
}

func seal(a cipher.AEAD, pt, aad []byte) ([]byte, error) {
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, pt, aad), nil
}

func open(a cipher.AEAD, ct, aad []byte) ([]byte, error) {
	if len(ct) < a.NonceSize()+a.Overhead() {
		return nil, ErrDecrypt
	}
	return a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], aad)
}
