// Package outbox owns the audit outbox table every service writes its audit
// events to, in the same transaction as the change they record.
package outbox
