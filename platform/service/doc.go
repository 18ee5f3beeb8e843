// Package service is the entry point shared by every service binary: it loads
// configuration, sets up logging, builds the server and runs it until SIGINT
// or SIGTERM.
package service
