// Command pythorix-audit-verify checks a JSON Lines audit export offline:
//
//	pythorix-audit-verify export.jsonl
//	pythorix-audit-verify -checkpoint checkpoint.note -key VERIFIER_KEY export.jsonl
//	pythorix-audit-verify -keygen NAME
//
// The first recomputes every hash and link. With a signed checkpoint and the
// public verifier key it also proves that the export's entries form exactly
// the signed tree. -keygen prints a new signing key and its verifier key.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/pythorix/pythorix/services/audit"
)

func main() {
	checkpoint := flag.String("checkpoint", "", "file with a signed checkpoint (GET /v1/audit/checkpoint, field note)")
	key := flag.String("key", "", "verifier key of the checkpoint signer")
	keygen := flag.String("keygen", "", "print a new signer key and verifier key for NAME, then exit")
	flag.Parse()
	if *keygen != "" {
		skey, vkey, err := note.GenerateKey(rand.Reader, *keygen)
		if err != nil {
			fail(err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
		return
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pythorix-audit-verify [-checkpoint FILE -key KEY] EXPORT.jsonl")
		os.Exit(2)
	}
	export, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	var res *audit.ExportResult
	if *checkpoint != "" {
		cp, err := os.ReadFile(*checkpoint)
		if err != nil {
			fail(err)
		}
		res, err = audit.VerifyExportAgainst(export, cp, *key)
		if err != nil {
			fail(err)
		}
	} else if res, err = audit.VerifyExportBytes(export); err != nil {
		fail(err)
	}
	if res.BrokenSeq != 0 {
		fmt.Printf("BROKEN at seq %d: %s (%d entries verified before it)\n", res.BrokenSeq, res.Reason, res.Count)
		os.Exit(1)
	}
	fmt.Printf("ok: %d entries, seq %d..%d, head %s\n", res.Count, res.FirstSeq, res.LastSeq, res.Head)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pythorix-audit-verify:", err)
	os.Exit(2)
}
