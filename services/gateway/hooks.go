package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
)

const (
	// maxHookBody is the contract's bound on an inbound hook's body.
	maxHookBody = 1 << 20
	// maxHookHeaders bounds the headers forwarded with a hook.
	maxHookHeaders = 64
)

// hooks serves POST /v1/hooks/{provider}/{integrationId} outside JSON
// transcoding: the provider's HMAC covers the raw body, which goes to the
// integrations service byte for byte with the headers, and nothing is done
// with it before that service has verified it.
func (g *Gateway) hooks(client integrationsv1.IntegrationsServiceClient) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHookBody+1))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || len(body) > maxHookBody {
			g.writeError(w, r, status.Error(codes.InvalidArgument, "body: larger than 1 MiB"))
			return
		}
		if err != nil {
			g.writeError(w, r, status.Error(codes.InvalidArgument, "body: could not be read"))
			return
		}
		headers := make(map[string]string, len(r.Header))
		for name, values := range r.Header {
			if len(headers) == maxHookHeaders {
				break
			}
			name = strings.ToLower(name)
			if name == "authorization" || name == "cookie" {
				continue // never forwarded: hooks are verified by signature alone
			}
			headers[name] = strings.Join(values, ", ")
		}
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		_, err = client.ReceiveHook(r.Context(), &integrationsv1.ReceiveHookRequest{Provider: r.PathValue("provider"),
			IntegrationId: r.PathValue("integrationId"), Body: body, Headers: headers, SourceIp: ip})
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}
