// Package roles is the one table mapping organisation roles to permissions.
// No other code decides what a role may do.
package roles
