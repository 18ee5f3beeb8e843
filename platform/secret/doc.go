// Package secret holds values that must never be printed, logged or marshalled.
package secret
