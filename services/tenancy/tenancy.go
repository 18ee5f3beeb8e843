package tenancy

import (
	"google.golang.org/grpc"

	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements tenancyv1.TenancyServiceServer. RPCs not yet built answer
// Unimplemented through the embedded type.
type Service struct {
	tenancyv1.UnimplementedTenancyServiceServer
	deps server.Deps
}

var _ tenancyv1.TenancyServiceServer = (*Service)(nil)

// Options wire the service into the shared server.
func Options(config.Service) (server.Options, error) {
	return server.Options{
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			tenancyv1.RegisterTenancyServiceServer(reg, &Service{deps: deps})
			return nil
		},
	}, nil
}
