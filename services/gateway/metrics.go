package gateway

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pythorix/pythorix/platform/metrics"
)

// httpMetrics count the gateway's requests by method, route class and
// status, and time them. Routes are classes, not paths, so that ids in paths
// cannot blow up the series.
type httpMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{reg: metrics.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pythorix_gateway_requests_total",
			Help: "HTTP requests by method, route class and status code."}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pythorix_gateway_request_duration_seconds",
			Help: "HTTP request latency by method and route class.", Buckets: prometheus.DefBuckets}, []string{"method", "route"}),
	}
	m.reg.MustRegister(m.requests, m.duration)
	return m
}

// routeClass names the part of the API a path belongs to: its first
// segment after /v1/ ("scans", "integrations", "hooks"), or "other".
func routeClass(path string) string {
	switch path {
	case "/healthz", "/readyz", "/openapi.json":
		return path[1:]
	}
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "other"
	}
	first, _, _ := strings.Cut(rest, "/")
	first, _, _ = strings.Cut(first, ":")
	for _, r := range first {
		if (r < 'a' || r > 'z') && r != '-' {
			return "other"
		}
	}
	if len(first) == 0 || len(first) > 32 {
		return "other"
	}
	return first
}

func (m *httpMetrics) observe(method, path string, status int, took time.Duration) {
	if m == nil {
		return
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
	default:
		method = "other"
	}
	route := routeClass(path)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}
