package e2e_test

import (
	"net/http"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var (
	recorderOnce sync.Once
	recorder     *tracetest.SpanRecorder
)

// spanRecorder installs, once for the process, a tracer provider that
// records only traces a caller started sampled (so the other tests, which
// send no traceparent, record nothing).
func spanRecorder() *tracetest.SpanRecorder {
	recorderOnce.Do(func() {
		recorder = tracetest.NewSpanRecorder()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))))
		otel.SetTextMapPropagator(propagation.TraceContext{})
	})
	return recorder
}

// A caller's trace continues through the gateway, over mTLS into the
// service, and down to its PostgreSQL queries.
func TestTracesSpanGatewayServiceAndDatabase(t *testing.T) {
	t.Parallel()
	rec := spanRecorder()
	s := StartSuite(t)
	s.signup(t, "trace@example.com", goodPassword)
	tok, _ := s.login(t, "trace@example.com", goodPassword)
	_, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Traced"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", s.URL+"/v1/orgs/"+org, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Org-Id", org)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET org: %d", resp.StatusCode)
	}
	var gateway, client, server, db bool
	for _, sp := range rec.Ended() {
		if sp.SpanContext().TraceID().String() != traceID {
			continue
		}
		switch {
		case sp.Name() == "GET orgs":
			gateway = true
		case sp.SpanKind().String() == "client" && sp.InstrumentationScope().Name == "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc":
			client = true
		case sp.SpanKind().String() == "server" && sp.InstrumentationScope().Name == "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc":
			server = true
		case sp.InstrumentationScope().Name == "github.com/exaring/otelpgx":
			db = true
		}
	}
	if !gateway || !client || !server || !db {
		var names []string
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID().String() == traceID {
				names = append(names, sp.InstrumentationScope().Name+" "+sp.Name())
			}
		}
		t.Fatalf("gateway %v, grpc client %v, grpc server %v, database %v: %v", gateway, client, server, db, names)
	}
}
