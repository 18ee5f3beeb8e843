package gateway

import (
	"testing"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	scanningv1 "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
)

// FuzzRequestBody feeds hostile JSON through what the gateway does to a
// request body (the JSON mapping, unknown fields refused) and then through
// the services' validation: neither may panic, and whatever decodes is
// either valid or refused with a violation.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.co","password":"correct horse battery"}`,
		`{"host":"shop.example.com","kind":"ASSET_KIND_WEB_APP","environment":"ENVIRONMENT_PRODUCTION","tags":["a"]}`,
		`{"name":"x","kind":"INTEGRATION_KIND_WEBHOOK","webhook":{"url":"https://h.example/x","events":["scan.completed"]}}`,
		`{"name":"p","allowedOrigins":["https://app.example.com"]}`,
		`{"assetId":"01a24189-dadf-7689-ac13-939eb4fce4c8"}`,
		`{"unknown":1}`, `[]`, `{"email":null}`, `{"tags":[` + `"x",` + `"y"]}`, "\x00", `{"name":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	marshaler := &runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false}}
	validator, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	messages := []func() proto.Message{
		func() proto.Message { return &identityv1.LoginRequest{} },
		func() proto.Message { return &identityv1.SignupRequest{} },
		func() proto.Message { return &scanningv1.CreateAssetRequest{} },
		func() proto.Message { return &scanningv1.CreateScanRequest{} },
		func() proto.Message { return &integrationsv1.CreateIntegrationRequest{} },
		func() proto.Message { return &tenancyv1.CreateProjectRequest{} },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 64<<10 {
			return
		}
		for _, m := range messages {
			msg := m()
			if marshaler.Unmarshal(body, msg) != nil {
				continue
			}
			_ = validator.Validate(msg)
		}
	})
}
