package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pythorix/pythorix/platform/postgres"
)

// hashReader reads a chain's stored tlog hashes: first those computed in the
// current batch, then the table.
func hashReader(ctx context.Context, tx pgx.Tx, chain string, pending map[int64]tlog.Hash) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var missing []int64
		for i, idx := range indexes {
			if h, ok := pending[idx]; ok {
				out[i] = h
			} else {
				missing = append(missing, idx)
			}
		}
		if len(missing) == 0 {
			return out, nil
		}
		rows, err := tx.Query(ctx, `SELECT idx, hash FROM tlog_hashes WHERE chain = $1 AND idx = ANY($2)`, chain, missing)
		if err != nil {
			return nil, err
		}
		found := map[int64]tlog.Hash{}
		for rows.Next() {
			var idx int64
			var b []byte
			if err := rows.Scan(&idx, &b); err != nil {
				return nil, err
			}
			var h tlog.Hash
			copy(h[:], b)
			found[idx] = h
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for i, idx := range indexes {
			if _, ok := pending[idx]; ok {
				continue
			}
			h, ok := found[idx]
			if !ok {
				return nil, fmt.Errorf("tlog: hash %d of %s missing", idx, chain)
			}
			out[i] = h
		}
		return out, nil
	})
}

// addToTree computes the stored hashes for record seq-1 (data: the event's hash).
func addToTree(reader tlog.HashReader, pending map[int64]tlog.Hash, seq int64, eventHash []byte) error {
	hs, err := tlog.StoredHashes(seq-1, eventHash, reader)
	if err != nil {
		return err
	}
	base := tlog.StoredHashIndex(0, seq-1)
	for i, h := range hs {
		pending[base+int64(i)] = h
	}
	return nil
}

func storeTreeHashes(ctx context.Context, tx pgx.Tx, chain string, pending map[int64]tlog.Hash) error {
	if len(pending) == 0 {
		return nil
	}
	idx := make([]int64, 0, len(pending))
	hashes := make([][]byte, 0, len(pending))
	for i, h := range pending {
		idx = append(idx, i)
		hashes = append(hashes, h[:])
	}
	_, err := tx.Exec(ctx, `INSERT INTO tlog_hashes (chain, idx, hash) SELECT $1, unnest($2::bigint[]), unnest($3::bytea[])`, chain, idx, hashes)
	return err
}

// CheckpointText is the signed text of a tree head:
//
//	pythorix audit log <chain>
//	<size>
//	<base64 root hash>
func CheckpointText(chain string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("pythorix audit log %s\n%d\n%s\n", chain, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpoint verifies a signed checkpoint with the verifier key and
// returns its chain, size and root.
func ParseCheckpoint(signed []byte, verifierKey string) (chain string, size int64, root tlog.Hash, err error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return "", 0, root, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return "", 0, root, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "pythorix audit log ") {
		return "", 0, root, errors.New("checkpoint: not a pythorix audit tree head")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return "", 0, root, errors.New("checkpoint: bad size")
	}
	b, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(b) != len(root) {
		return "", 0, root, errors.New("checkpoint: bad root hash")
	}
	copy(root[:], b)
	return strings.TrimPrefix(lines[0], "pythorix audit log "), size, root, nil
}

// Checkpoint is a signed tree head.
type Checkpoint struct {
	Chain string
	Size  int64
	Root  tlog.Hash
	Note  string
}

// Checkpoint signs the chain's current head (or returns the stored checkpoint
// of that size) and keeps it.
func (s *Store) Checkpoint(ctx context.Context, scope, chain string, signer note.Signer) (*Checkpoint, error) {
	cp := &Checkpoint{Chain: chain}
	err := postgres.InOrg(ctx, s.db, scope, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT size FROM chains WHERE chain = $1), 0)`, chain).Scan(&cp.Size); err != nil {
			return err
		}
		var stored string
		var root []byte
		err := tx.QueryRow(ctx, `SELECT note, root FROM checkpoints WHERE chain = $1 AND size = $2`, chain, cp.Size).Scan(&stored, &root)
		if err == nil {
			cp.Note = stored
			copy(cp.Root[:], root)
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if cp.Size > 0 {
			if cp.Root, err = tlog.TreeHash(cp.Size, hashReader(ctx, tx, chain, nil)); err != nil {
				return err
			}
		}
		msg, err := note.Sign(&note.Note{Text: CheckpointText(chain, cp.Size, cp.Root)}, signer)
		if err != nil {
			return err
		}
		cp.Note = string(msg)
		_, err = tx.Exec(ctx, `INSERT INTO checkpoints (chain, size, root, note) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			chain, cp.Size, cp.Root[:], cp.Note)
		return err
	})
	return cp, err
}

// InclusionProof proves that event seq is in the chain's tree of size n
// (0 = the current size).
type InclusionProof struct {
	Seq, TreeSize int64
	Leaf, Root    tlog.Hash
	Hashes        tlog.RecordProof
}

// Prove builds an inclusion proof.
func (s *Store) Prove(ctx context.Context, scope, chain string, seq, n int64) (*InclusionProof, error) {
	p := &InclusionProof{Seq: seq}
	err := postgres.InOrg(ctx, s.db, scope, func(tx pgx.Tx) error {
		var size int64
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT size FROM chains WHERE chain = $1), 0)`, chain).Scan(&size); err != nil {
			return err
		}
		if n == 0 {
			n = size
		}
		if seq < 1 || seq > n || n > size {
			return ErrOutOfRange
		}
		var eventHash []byte
		if err := tx.QueryRow(ctx, `SELECT hash FROM events WHERE chain = $1 AND seq = $2`, chain, seq).Scan(&eventHash); err != nil {
			return err
		}
		r := hashReader(ctx, tx, chain, nil)
		var err error
		if p.Hashes, err = tlog.ProveRecord(n, seq-1, r); err != nil {
			return err
		}
		if p.Root, err = tlog.TreeHash(n, r); err != nil {
			return err
		}
		p.Leaf, p.TreeSize = tlog.RecordHash(eventHash), n
		return nil
	})
	return p, err
}

// ErrOutOfRange is a sequence or tree size the chain does not have.
var ErrOutOfRange = errors.New("sequence or tree size out of range")

// VerifyExportAgainst checks an export offline and, with a signed checkpoint
// and its verifier key, that the export's entries 1..size form exactly the
// signed tree: an outsider needs nothing but the public key.
func VerifyExportAgainst(export []byte, checkpoint []byte, verifierKey string) (*ExportResult, error) {
	res, err := VerifyExport(bytes.NewReader(export))
	if err != nil || res.BrokenSeq != 0 {
		return res, err
	}
	_, size, root, err := ParseCheckpoint(checkpoint, verifierKey)
	if err != nil {
		return res, err
	}
	if res.FirstSeq != 1 || res.LastSeq < size {
		return res, fmt.Errorf("the export covers seq %d..%d; the checkpoint needs 1..%d", res.FirstSeq, res.LastSeq, size)
	}
	pending := map[int64]tlog.Hash{}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := pending[x]
			if !ok {
				return nil, fmt.Errorf("tlog: hash %d missing", x)
			}
			out[i] = h
		}
		return out, nil
	})
	for seq, h := range res.hashes {
		if int64(seq)+1 > size {
			break
		}
		if err := addToTree(reader, pending, int64(seq)+1, h); err != nil {
			return res, err
		}
	}
	got, err := tlog.TreeHash(size, reader)
	if err != nil {
		return res, err
	}
	if got != root {
		return res, fmt.Errorf("the export's first %d entries do not form the signed tree", size)
	}
	return res, nil
}

// SignHeads signs every chain whose current head has no checkpoint yet, so
// tree heads are fixed by signature on a schedule, not only when asked.
func (s *Store) SignHeads(ctx context.Context, signer note.Signer) (int, error) {
	var chains []string
	err := postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.chain FROM chains c WHERE NOT EXISTS
			(SELECT 1 FROM checkpoints k WHERE k.chain = c.chain AND k.size = c.size)`)
		if err != nil {
			return err
		}
		chains, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, c := range chains {
		if _, err := s.Checkpoint(ctx, postgres.AllOrgs, c, signer); err != nil {
			return 0, err
		}
	}
	return len(chains), nil
}
