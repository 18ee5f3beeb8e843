// Package logging configures JSON logs (slog) that carry the request id and
// the OpenTelemetry trace and span ids of the context they are written in.
package logging
