// Command pythorix-identity runs the identity service.
package main

import (
	"os"

	"github.com/pythorix/pythorix/platform/service"
	"github.com/pythorix/pythorix/services/identity"
)

func main() {
	os.Exit(service.Main("identity", identity.Options,
		service.Schema{Migrations: identity.Migrations()}))
}
