// Package postgres opens pgx connection pools and applies a service's
// embedded SQL migrations under an advisory lock.
package postgres
