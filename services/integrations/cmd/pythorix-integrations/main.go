// Command pythorix-integrations runs the integrations service.
package main

import (
	"os"

	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/platform/service"
	"github.com/pythorix/pythorix/services/integrations"
)

func main() {
	os.Exit(service.Main("integrations", integrations.Options,
		service.Schema{Migrations: integrations.Migrations(), Migrate: riverq.Migrate}))
}
