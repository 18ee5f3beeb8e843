package audit

import (
	"google.golang.org/grpc"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements auditv1.AuditServiceServer. RPCs not yet built answer
// Unimplemented through the embedded type.
type Service struct {
	auditv1.UnimplementedAuditServiceServer
	deps server.Deps
}

var _ auditv1.AuditServiceServer = (*Service)(nil)

// Options wire the service into the shared server.
func Options(config.Service) (server.Options, error) {
	return server.Options{
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			auditv1.RegisterAuditServiceServer(reg, &Service{deps: deps})
			return nil
		},
	}, nil
}
