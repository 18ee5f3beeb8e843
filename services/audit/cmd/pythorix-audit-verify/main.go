// Command pythorix-audit-verify checks a JSON Lines audit export offline:
//
//	pythorix-audit-verify < export.jsonl
//
// It recomputes every hash and link and prints the head hash, to compare with
// the head the service reports (GET /v1/audit/verify). Exit status 1 names
// the first entry that does not match.
package main

import (
	"fmt"
	"os"

	"github.com/pythorix/pythorix/services/audit"
)

func main() {
	res, err := audit.VerifyExport(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pythorix-audit-verify:", err)
		os.Exit(2)
	}
	if res.BrokenSeq != 0 {
		fmt.Printf("BROKEN at seq %d: %s (%d entries verified before it)\n", res.BrokenSeq, res.Reason, res.Count)
		os.Exit(1)
	}
	fmt.Printf("ok: %d entries, seq %d..%d, head %s\n", res.Count, res.FirstSeq, res.LastSeq, res.Head)
}
