package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpointsAndInclusionProofs(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	org := uuid.NewString()
	chain := ChainOf(org)
	// Several batches, so trees span batch boundaries.
	for _, n := range []int{1, 6, 30} {
		appendN(t, s, org, n)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "pythorix-audit-test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	cp, err := s.Checkpoint(ctx, org, chain, signer)
	if err != nil || cp.Size != 37 {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	gotChain, size, root, err := ParseCheckpoint([]byte(cp.Note), vkey)
	if err != nil || gotChain != chain || size != 37 || root != cp.Root {
		t.Fatalf("parse checkpoint: %s %d %v %v", gotChain, size, root, err)
	}
	// Another key does not verify it.
	_, otherV, _ := note.GenerateKey(rand.Reader, "pythorix-audit-test")
	if _, _, _, err := ParseCheckpoint([]byte(cp.Note), otherV); err == nil {
		t.Fatal("a checkpoint verified with the wrong key")
	}
	events, _ := s.List(ctx, org, Filter{Chain: chain, Limit: 100})
	for _, seq := range []int64{1, 2, 7, 19, 37} {
		p, err := s.Prove(ctx, org, chain, seq, 0)
		if err != nil {
			t.Fatalf("prove %d: %v", seq, err)
		}
		leaf := tlog.RecordHash(events[seq-1].Hash)
		if err := tlog.CheckRecord(p.Hashes, p.TreeSize, root, seq-1, leaf); err != nil || p.Leaf != leaf {
			t.Fatalf("proof for %d does not check against the signed root: %v", seq, err)
		}
	}
	if _, err := s.Prove(ctx, org, chain, 38, 0); err != ErrOutOfRange {
		t.Fatalf("proof beyond the head: %v", err)
	}

	// An export verifies offline against the checkpoint with only the public key.
	var export bytes.Buffer
	for _, e := range events {
		b, _ := json.Marshal(Line(e))
		export.Write(append(b, '\n'))
	}
	if res, err := VerifyExportAgainst(export.Bytes(), []byte(cp.Note), vkey); err != nil || res.Count != 37 {
		t.Fatalf("export against checkpoint: %+v %v", res, err)
	}
	// An export whose entries were re-hashed consistently (a forger with the
	// database) still fails against the signed tree head.
	forged := bytes.Replace(export.Bytes(), []byte(`"test.action.3"`), []byte(`"test.action.x"`), 1)
	res, err := VerifyExportAgainst(forged, []byte(cp.Note), vkey)
	if err == nil && res.BrokenSeq == 0 {
		t.Fatal("a forged export verified against the checkpoint")
	}
	// After more events, the old checkpoint still proves its prefix.
	appendN(t, s, org, 5)
	if res, err := VerifyExportAgainst(export.Bytes(), []byte(cp.Note), vkey); err != nil || res.Count != 37 {
		t.Fatalf("old checkpoint: %+v %v", res, err)
	}
	if !strings.HasPrefix(cp.Note, "pythorix audit log "+chain+"\n37\n") {
		t.Fatalf("checkpoint text: %q", cp.Note)
	}
}

func TestSignHeads(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	a, b := uuid.NewString(), uuid.NewString()
	appendN(t, s, a, 3)
	appendN(t, s, b, 2)
	skey, _, _ := note.GenerateKey(rand.Reader, "k")
	signer, _ := note.NewSigner(skey)
	if n, err := s.SignHeads(ctx, signer); err != nil || n != 2 {
		t.Fatalf("first pass signed %d (%v), want 2", n, err)
	}
	if n, _ := s.SignHeads(ctx, signer); n != 0 {
		t.Fatalf("unchanged heads signed again: %d", n)
	}
	appendN(t, s, a, 1)
	if n, _ := s.SignHeads(ctx, signer); n != 1 {
		t.Fatalf("after one chain grew: %d", n)
	}
}
