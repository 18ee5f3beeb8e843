// Package identity is the identity service: accounts, credentials, sessions, second factors and API keys.
package identity
