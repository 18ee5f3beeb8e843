// Command pythorix-audit runs the audit service.
package main

import (
	"os"

	"github.com/pythorix/pythorix/platform/service"
	"github.com/pythorix/pythorix/services/audit"
)

func main() {
	os.Exit(service.Main("audit", audit.Options,
		service.Schema{Migrations: audit.Migrations()}))
}
