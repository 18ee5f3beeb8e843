// Package pki creates the development certificate authority and the SPIFFE
// certificates that the suite's services use for mutual TLS.
package pki
