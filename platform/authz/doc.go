// Package authz decides whether a principal holds a permission in an
// organisation: membership and role come from tenancy (cached briefly,
// invalidated through Redis on every change), permissions from roles.
package authz
