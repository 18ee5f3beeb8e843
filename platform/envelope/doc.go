// Package envelope encrypts secrets at rest: a fresh AES-256-GCM data key per
// secret, wrapped by a key-encryption key from a rotatable key ring, with
// associated data binding each ciphertext to the record it belongs to.
package envelope
