package scanning

import (
	"google.golang.org/grpc"

	scanningv1 "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements scanningv1.ScanningServiceServer. RPCs not yet built answer
// Unimplemented through the embedded type.
type Service struct {
	scanningv1.UnimplementedScanningServiceServer
	deps server.Deps
}

var _ scanningv1.ScanningServiceServer = (*Service)(nil)

// Options wire the service into the shared server.
func Options(config.Service) (server.Options, error) {
	return server.Options{
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			scanningv1.RegisterScanningServiceServer(reg, &Service{deps: deps})
			return nil
		},
	}, nil
}
