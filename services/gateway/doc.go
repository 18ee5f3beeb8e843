// Package gateway is the public HTTPS edge: a grpc-gateway mux that
// translates REST into gRPC calls to the services over mutual TLS, with the
// security headers, limits and error mapping of the public API contract.
package gateway
