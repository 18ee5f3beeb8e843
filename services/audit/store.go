package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/postgres"
)

// Store is the append-only, hash-chained log in Postgres.
type Store struct{ db *pgxpool.Pool }

// NewStore wraps a pool whose role may only insert and select events.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

var eventColumns = []string{"chain", "seq", "id", "org_id", "time", "actor_type", "actor_id", "action", "resource_type",
	"resource_id", "outcome", "source_ip", "user_agent", "request_id", "trace_id", "details", "prev_hash", "hash"}

// Append adds a batch to its chains in one transaction (group commit: one
// fsync for the batch). Each chain's head row is locked, in chain order, so
// appends to one chain are serialised while other chains proceed in
// parallel. Events whose id is already stored are skipped: delivery is
// at-least-once, storage exactly once.
func (s *Store) Append(ctx context.Context, inputs []*auditv1.EventInput) (appended, duplicates int, err error) {
	byChain := map[string][]*Event{}
	seen := map[string]bool{}
	var ids []string
	for _, in := range inputs {
		if seen[in.GetId()] {
			duplicates++
			continue
		}
		seen[in.GetId()] = true
		e := fromInput(in)
		byChain[e.Chain] = append(byChain[e.Chain], e)
		ids = append(ids, e.ID)
	}
	chains := make([]string, 0, len(byChain))
	for c := range byChain {
		chains = append(chains, c)
	}
	slices.Sort(chains)
	err = postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		appended = 0
		if _, err := tx.Exec(ctx, `INSERT INTO chains (chain) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, chains); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT chain, size, head FROM chains WHERE chain = ANY($1) ORDER BY chain FOR UPDATE`, chains)
		if err != nil {
			return err
		}
		type head struct {
			size int64
			hash []byte
		}
		heads := map[string]*head{}
		for rows.Next() {
			var c string
			h := &head{}
			if err := rows.Scan(&c, &h.size, &h.hash); err != nil {
				return err
			}
			heads[c] = h
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Under the chain locks no other append can store these ids meanwhile.
		existing := map[string]bool{}
		rows, err = tx.Query(ctx, `SELECT id::text FROM events WHERE id = ANY($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			existing[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var cols [18][]any
		for _, c := range chains {
			h := heads[c]
			pending := map[int64]tlog.Hash{}
			reader := hashReader(ctx, tx, c, pending)
			for _, e := range byChain[c] {
				if existing[e.ID] {
					duplicates++
					continue
				}
				h.size++
				e.Seq, e.PrevHash = h.size, h.hash
				e.Hash = ComputeHash(h.hash, e)
				h.hash = e.Hash
				if err := addToTree(reader, pending, e.Seq, e.Hash); err != nil {
					return err
				}
				var org any
				if e.OrgID != "" {
					org = e.OrgID
				}
				for i, v := range []any{e.Chain, e.Seq, e.ID, org, e.Time, e.ActorType, e.ActorID, e.Action, e.ResourceType,
					e.ResourceID, e.Outcome, e.SourceIP, e.UserAgent, e.RequestID, e.TraceID, e.Details, e.PrevHash, e.Hash} {
					cols[i] = append(cols[i], v)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE chains SET size = $2, head = $3 WHERE chain = $1`, c, h.size, h.hash); err != nil {
				return err
			}
			if err := storeTreeHashes(ctx, tx, c, pending); err != nil {
				return err
			}
		}
		if len(cols[0]) == 0 {
			return nil
		}
		// One multi-row INSERT (COPY is not allowed under row-level security).
		tag, err := tx.Exec(ctx, `INSERT INTO events (`+strings.Join(eventColumns, ", ")+`)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
				$17::bytea[], $18::bytea[])`, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
			cols[9], cols[10], cols[11], cols[12], cols[13], cols[14], cols[15], cols[16], cols[17])
		appended = int(tag.RowsAffected())
		return err
	})
	return appended, duplicates, err
}

// Verification is the result of checking a chain.
type Verification struct {
	OK        bool
	Count     int64
	Head      []byte
	BrokenSeq int64 // 0 when OK
	Reason    string
}

const selectEvent = `SELECT chain, seq, id::text, coalesce(org_id::text, ''), time, actor_type, actor_id, action, resource_type,
	resource_id, outcome, source_ip, user_agent, request_id, trace_id, details, prev_hash, hash, append_time FROM events`

func scanEvent(r pgx.Row) (*Event, error) {
	e := &Event{}
	err := r.Scan(&e.Chain, &e.Seq, &e.ID, &e.OrgID, &e.Time, &e.ActorType, &e.ActorID, &e.Action, &e.ResourceType,
		&e.ResourceID, &e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.TraceID, &e.Details, &e.PrevHash, &e.Hash, &e.AppendTime)
	e.Time = e.Time.UTC()
	return e, err
}

// Verify recomputes a chain from seq from to seq to (0 = its head) and names
// the first entry that does not match: a changed field, a missing or
// reordered entry, a forged one, or a head that disagrees with the log.
func (s *Store) Verify(ctx context.Context, scope, chain string, from, to int64) (*Verification, error) {
	if from < 1 {
		from = 1
	}
	v := &Verification{OK: true}
	err := postgres.InOrg(ctx, s.db, scope, func(tx pgx.Tx) error {
		var size int64
		var head []byte
		err := tx.QueryRow(ctx, `SELECT size, head FROM chains WHERE chain = $1`, chain).Scan(&size, &head)
		if errors.Is(err, pgx.ErrNoRows) {
			size, head = 0, ZeroHash
		} else if err != nil {
			return err
		}
		end := size
		if to > 0 && to < size {
			end = to
		}
		prev := ZeroHash
		if from > size+1 {
			return errFromBeyondHead
		}
		if from > 1 {
			if err := tx.QueryRow(ctx, `SELECT hash FROM events WHERE chain = $1 AND seq = $2`, chain, from-1).Scan(&prev); err != nil {
				return fmt.Errorf("verify: entry before %d: %w", from, err)
			}
		}
		rows, err := tx.Query(ctx, selectEvent+` WHERE chain = $1 AND seq >= $2 ORDER BY seq`, chain, from)
		if err != nil {
			return err
		}
		defer rows.Close()
		expect := from
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			switch {
			case e.Seq > size:
				return v.broken(e.Seq, "entry beyond the recorded head of the chain")
			case e.Seq > end:
				return nil
			case e.Seq != expect:
				return v.broken(expect, "entry missing")
			case !bytes.Equal(e.PrevHash, prev):
				return v.broken(e.Seq, "prev_hash does not match the previous entry's hash")
			case !bytes.Equal(ComputeHash(prev, e), e.Hash):
				return v.broken(e.Seq, "content does not match its hash")
			}
			prev = e.Hash
			v.Count++
			v.Head = e.Hash
			expect++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if expect <= end {
			return v.broken(expect, "entry missing")
		}
		if end == size && size > 0 && !bytes.Equal(prev, head) {
			return v.broken(size, "chain head does not match the last entry")
		}
		if v.Head == nil {
			v.Head = prev
		}
		return nil
	})
	if errors.Is(err, errBroken) {
		err = nil
	}
	return v, err
}

var errBroken = errors.New("chain broken")

// errFromBeyondHead is a verification range that starts after the chain's end.
var errFromBeyondHead = errors.New("fromSeq is beyond the head of the chain")

// ErrFromBeyondHead is returned when a verification starts after the head.
var ErrFromBeyondHead = errFromBeyondHead

func (v *Verification) broken(seq int64, reason string) error {
	v.OK, v.BrokenSeq, v.Reason = false, seq, reason
	return errBroken
}

// Filter selects events of one chain.
type Filter struct {
	Chain                                     string
	ActorID, Action, ResourceType, ResourceID string
	Start, End                                time.Time
	AfterSeq                                  int64
	Limit                                     int
}

// List returns a chain's events in sequence order.
func (s *Store) List(ctx context.Context, scope string, f Filter) ([]*Event, error) {
	var out []*Event
	err := postgres.InOrg(ctx, s.db, scope, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectEvent+` WHERE chain = $1 AND seq > $2
			AND ($3 = '' OR actor_id = $3) AND ($4 = '' OR action = $4) AND ($5 = '' OR resource_type = $5)
			AND ($6 = '' OR resource_id = $6) AND ($7::timestamptz IS NULL OR time >= $7) AND ($8::timestamptz IS NULL OR time < $8)
			ORDER BY seq LIMIT $9`, f.Chain, f.AfterSeq, f.ActorID, f.Action, f.ResourceType, f.ResourceID,
			nullTime(f.Start), nullTime(f.End), f.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Event, error) { return scanEvent(r) })
		return err
	})
	return out, err
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// HexHash renders a hash for the API.
func HexHash(b []byte) string { return hex.EncodeToString(b) }
