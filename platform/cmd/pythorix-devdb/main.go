// Command pythorix-devdb creates one database per service on the server that
// DATABASE_URL points at and prints "service=url" lines for make run.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pythorix/pythorix/platform/pgadmin"
)

func main() {
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		fmt.Fprintln(os.Stderr, "pythorix-devdb: DATABASE_URL is not set")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, svc := range []string{"identity", "tenancy", "scanning", "audit", "integrations"} {
		name := "pythorix_" + svc
		if err := pgadmin.Ensure(ctx, admin, name, ""); err != nil {
			fmt.Fprintln(os.Stderr, "pythorix-devdb:", err)
			os.Exit(1)
		}
		u, err := pgadmin.WithDatabase(admin, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pythorix-devdb:", err)
			os.Exit(1)
		}
		fmt.Printf("%s=%s\n", svc, u)
	}
}
