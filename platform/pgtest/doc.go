// Package pgtest gives each test its own Postgres database, cloned from a
// template migrated once per schema, so tests run in parallel on real Postgres.
package pgtest
