// Package server builds a suite service's gRPC server: mTLS with SPIFFE peer
// identities, one named interceptor chain, health and reflection, Postgres and
// Redis, and a graceful drain in the order Kubernetes expects.
package server
