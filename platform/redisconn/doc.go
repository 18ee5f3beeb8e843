// Package redisconn opens the go-redis client a service uses for hot state.
package redisconn
