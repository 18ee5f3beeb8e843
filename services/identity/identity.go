package identity

import (
	"google.golang.org/grpc"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements identityv1.IdentityServiceServer. RPCs not yet built answer
// Unimplemented through the embedded type.
type Service struct {
	identityv1.UnimplementedIdentityServiceServer
	deps server.Deps
}

var _ identityv1.IdentityServiceServer = (*Service)(nil)

// Options wire the service into the shared server.
func Options(config.Service) server.Options {
	return server.Options{
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			identityv1.RegisterIdentityServiceServer(reg, &Service{deps: deps})
			return nil
		},
	}
}
