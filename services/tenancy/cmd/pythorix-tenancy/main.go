// Command pythorix-tenancy runs the tenancy service.
package main

import (
	"os"

	"github.com/pythorix/pythorix/platform/service"
	"github.com/pythorix/pythorix/services/tenancy"
)

func main() {
	os.Exit(service.Main("tenancy", tenancy.Options,
		service.Schema{Migrations: tenancy.Migrations()}))
}
