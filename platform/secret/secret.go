package secret

import (
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// String is a secret string. Every way of printing it (fmt verbs, slog, JSON)
// shows "[REDACTED]"; only Reveal returns the value.
type String struct{ v string }

// New wraps a secret value.
func New(v string) String { return String{v: v} }

// Reveal returns the plaintext. Call it only where the value is used.
func (s String) Reveal() string { return s.v }

// IsZero reports whether no value is set.
func (s String) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s String) String() string { return s.display() }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (s String) GoString() string { return s.display() }

// Format implements fmt.Formatter so that no verb reveals the value.
func (s String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.display())) }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.display()) }

// MarshalJSON implements json.Marshaler.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.display() + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s String) MarshalText() ([]byte, error) { return []byte(s.display()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (used by config loading).
func (s *String) UnmarshalText(b []byte) error {
	s.v = string(b)
	return nil
}

func (s String) display() string {
	if s.v == "" {
		return ""
	}
	return redacted
}
