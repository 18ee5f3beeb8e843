// Package config loads a service's configuration from the environment and
// validates all of it before anything starts.
package config
