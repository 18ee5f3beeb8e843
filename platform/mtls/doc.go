// Package mtls builds mutual-TLS credentials for the suite's gRPC traffic from
// certificate files carrying SPIFFE IDs, and reloads them when the files change.
package mtls
