// Package gen holds the code and documents generated from proto/ by
// `make generate`. Everything below gen/go and gen/openapi is generated and
// wiped on each run; this file and go.mod are the only hand-written files here.
package gen

import _ "embed"

// OpenAPI is the merged OpenAPI (Swagger 2.0) document of the public REST API.
//
//go:embed openapi/pythorix.swagger.json
var OpenAPI []byte
