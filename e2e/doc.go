// Package e2e holds end-to-end tests that start the whole suite (five
// services and the gateway) with real mTLS, Postgres and Redis, and drive it
// through the public REST API.
package e2e
