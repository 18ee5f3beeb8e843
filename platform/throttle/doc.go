// Package throttle slows down guessing: failed attempts per account and per
// client IP are counted in Redis and, past a free allowance, lock the key out
// for an exponentially growing time.
package throttle
