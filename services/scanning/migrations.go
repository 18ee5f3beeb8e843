package scanning

import (
	"embed"
	"io/fs"

	"github.com/pythorix/pythorix/platform/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are scanning's schema migrations.
func Migrations() fs.FS { return postgres.Sub(migrations, "migrations") }
