package identity

import "errors"

// Domain errors. The gRPC edge maps them to status codes in one place
// (toStatus); nothing else in the package knows about gRPC codes.
var (
	ErrNotFound           = errors.New("not found")
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrInvalidCode        = errors.New("invalid or expired code")
	ErrEmailNotVerified   = errors.New("email address not verified")
	ErrTOTPAlreadyEnabled = errors.New("two-factor authentication is already enabled")
	ErrTOTPNotEnrolled    = errors.New("two-factor authentication is not enrolled")
	ErrTOTPNotEnabled     = errors.New("two-factor authentication is not enabled")
	ErrNoPassword         = errors.New("this account has no password; sign in with its identity provider")
	ErrUnavailable        = errors.New("temporarily unavailable")
)
