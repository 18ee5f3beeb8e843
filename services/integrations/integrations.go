package integrations

import (
	"google.golang.org/grpc"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements integrationsv1.IntegrationsServiceServer. RPCs not yet built answer
// Unimplemented through the embedded type.
type Service struct {
	integrationsv1.UnimplementedIntegrationsServiceServer
	deps server.Deps
}

var _ integrationsv1.IntegrationsServiceServer = (*Service)(nil)

// Options wire the service into the shared server.
func Options(config.Service) (server.Options, error) {
	return server.Options{
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			integrationsv1.RegisterIntegrationsServiceServer(reg, &Service{deps: deps})
			return nil
		},
	}, nil
}
