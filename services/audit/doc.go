// Package audit is the audit service: the append-only, hash-chained audit log of every privileged action.
package audit
