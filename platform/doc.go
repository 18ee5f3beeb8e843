// Package platform is the shared foundation every Pythorix service is built on.
// Its subpackages hold configuration, mTLS with SPIFFE identities, the gRPC
// server and its interceptor chain, Postgres and Redis clients, and test support.
package platform
