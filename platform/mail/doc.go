// Package mail sends the suite's transactional email: over SMTP (STARTTLS
// when offered, required when configured), or into .eml files in local mode.
package mail
