// Command pythorix-scanning runs the scanning service.
package main

import (
	"os"

	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/platform/service"
	"github.com/pythorix/pythorix/services/scanning"
)

func main() {
	os.Exit(service.Main("scanning", scanning.Options,
		service.Schema{Migrations: scanning.Migrations(), Migrate: riverq.Migrate}))
}
