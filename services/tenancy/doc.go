// Package tenancy is the tenancy service: organisations, memberships and roles, invitations and projects.
package tenancy
