// Package authn carries the end user's principal, client address and user
// agent from the gateway to the services in gRPC metadata, and authorizes
// calls that need a signed-in principal.
package authn
