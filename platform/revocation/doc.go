// Package revocation fans revocations (sessions, API keys) out to every
// gateway and service replica through Redis pub/sub, so a logout takes
// effect everywhere within a second without a database read per request.
package revocation
