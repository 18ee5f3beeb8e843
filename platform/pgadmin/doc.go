// Package pgadmin creates the suite's databases on a Postgres server for
// local runs and tests, given a URL with the right to CREATE DATABASE.
package pgadmin
