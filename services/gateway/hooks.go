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

// hookHeader reports a header one of the inbound signature schemes reads:
// Standard Webhooks (webhook-*), Slack (x-slack-*) and Stripe.
func hookHeader(name string) bool {
	return strings.HasPrefix(name, "webhook-") || strings.HasPrefix(name, "x-slack-") || name == "stripe-signature" ||
		name == "content-type"
}

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
		// Only what the signature schemes read goes on: nothing else of the
		// sender's request (credentials, cookies) reaches the service.
		headers := map[string]string{}
		for name, values := range r.Header {
			name = strings.ToLower(name)
			if !hookHeader(name) || len(headers) == maxHookHeaders {
				continue
			}
			sep := ", "
			if name == "webhook-signature" {
				sep = " " // its signatures are space-separated
			}
			headers[name] = strings.Join(values, sep)
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
