// Package egress is the guard on every outbound connection the suite makes on
// a user's behalf (scans, webhooks): public addresses only unless an operator
// allows a range, checked on the address actually dialled (so DNS rebinding
// cannot slip past), and an HTTP transport that can only read.
package egress
