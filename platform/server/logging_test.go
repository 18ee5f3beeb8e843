package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/logging"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/server/servertest"
)

// logBuffer collects a server's JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records are the log records whose msg is msg.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		rec := map[string]any{}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// panicky is identity's contract with a Login that panics.
type panicky struct {
	identityv1.UnimplementedIdentityServiceServer
}

func (panicky) Login(context.Context, *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	panic("handler bug near secret-material")
}

// TestPanicsAndDenialsAreLogged: a handler that panics answers Internal with
// a generic message, is logged with its stack, and the server goes on
// serving (ASVS V16.5.3); a refused call is logged with its method, code and
// calling peer (V16.3.2).
func TestPanicsAndDenialsAreLogged(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	dir := servertest.PKI(t)
	opts := server.Options{Logger: logging.New(logs, "identity", slog.LevelInfo),
		Register: func(reg grpc.ServiceRegistrar, _ server.Deps) error {
			identityv1.RegisterIdentityServiceServer(reg, panicky{})
			return nil
		}}
	srv := servertest.Start(t, servertest.Config(t, "identity", dir, nil), opts)
	gateway := identityv1.NewIdentityServiceClient(servertest.Dial(t, dir, "gateway", "identity", srv.Addr().String()))
	scanning := identityv1.NewIdentityServiceClient(servertest.Dial(t, dir, "scanning", "identity", srv.Addr().String()))

	for range 2 {
		_, err := gateway.Login(context.Background(), &identityv1.LoginRequest{Email: "a@example.com", Password: "x"})
		if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
			t.Fatalf("panicking handler: %v %q", st.Code(), st.Message())
		}
	}
	panics := logs.records(t, "panic in handler")
	if len(panics) != 2 || !strings.Contains(panics[0]["stack"].(string), "panicky") || panics[0]["request_id"] == nil {
		t.Fatalf("panic records: %v", panics)
	}
	internal := 0
	for _, r := range logs.records(t, "rpc") {
		if r["code"] == "Internal" && r["request_id"] == panics[0]["request_id"] {
			internal++
		}
	}
	if internal != 1 {
		t.Fatalf("the panicking call's rpc record (request %v): %d found", panics[0]["request_id"], internal)
	}
	// Still serving: the next call runs the chain to its end.
	if _, err := gateway.LookupUsers(context.Background(), &identityv1.LookupUsersRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("after the panics: %v", err)
	}

	if _, err := scanning.LookupUsers(context.Background(), &identityv1.LookupUsersRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("scanning calls an RPC it is not listed for: %v", err)
	}
	var denied []map[string]any
	for _, r := range logs.records(t, "rpc") {
		if r["code"] == "PermissionDenied" {
			denied = append(denied, r)
		}
	}
	if len(denied) != 1 || denied[0]["method"] != "/pythorix.identity.v1.IdentityService/LookupUsers" ||
		denied[0]["peer"] != "spiffe://pythorix.local/svc/scanning" || denied[0]["level"] != "WARN" && denied[0]["level"] != "ERROR" {
		t.Fatalf("denial records: %v", denied)
	}
}
