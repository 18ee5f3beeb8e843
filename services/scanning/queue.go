package scanning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redact"
	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// scanQueue is the River queue scans run on.
const scanQueue = "scans"

// scanArgs is a scan job: the scan row holds everything else.
type scanArgs struct {
	ScanID string `json:"scan_id"`
	OrgID  string `json:"org_id"`
}

// Kind implements river.JobArgs.
func (scanArgs) Kind() string { return "pythorix.scan" }

// Queue runs scans from a durable Postgres queue (River). A scan queued or
// running when a process stops is picked up again: a graceful stop puts
// running scans back in the queue, and River rescues the jobs of a process
// that died once their timeout has passed.
type Queue struct {
	client *river.Client[pgx.Tx]
	scans  *Scans
	log    *slog.Logger
	// publishing is on when the integrations service is configured.
	publishing bool
}

// NewQueue builds the River client over the service's pool. With an
// integrations client, finished scans publish their events to it.
func NewQueue(db *pgxpool.Pool, scans *Scans, integrations integrationsv1.IntegrationsServiceClient, log *slog.Logger) (*Queue, error) {
	q := &Queue{scans: scans, log: log, publishing: integrations != nil}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &scanWorker{q: q}); err != nil {
		return nil, err
	}
	queues := map[string]river.QueueConfig{scanQueue: {MaxWorkers: scans.limits.Workers}}
	if integrations != nil {
		if err := river.AddWorkerSafely(workers, &publishWorker{client: integrations}); err != nil {
			return nil, err
		}
		queues[eventQueue] = river.QueueConfig{MaxWorkers: 4}
	}
	l := scans.limits
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{
		Queues:      queues,
		Workers:     workers,
		MaxAttempts: l.MaxAttempts,
		JobTimeout:  l.Timeout + 30*time.Second,
		// No live job runs past JobTimeout: one still running well after it
		// belongs to a worker that died (a killed process) and is rescued.
		RescueStuckJobsAfter: l.Timeout + time.Minute,
		FetchCooldown:        50 * time.Millisecond,
		FetchPollInterval:    500 * time.Millisecond,
		// The service's role owns nothing, so it cannot reindex River's tables.
		ReindexerIndexNames: []string{},
		Logger:              log.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("river: client: %w", err)
	}
	q.client = client
	return q, nil
}

// Run works the queue until ctx ends, then stops: running scans get a few
// seconds to finish and are then canceled and put back in the queue.
func (q *Queue) Run(ctx context.Context) error {
	return riverq.Run(ctx, q.client, riverq.Sweep{Every: 30 * time.Second, Run: q.scans.sweep,
		What: "scans whose job ended without a result"}, q.log)
}

func (q *Queue) enqueue(ctx context.Context, tx pgx.Tx, args scanArgs) (int64, error) {
	res, err := q.client.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: scanQueue})
	if err != nil {
		return 0, fmt.Errorf("river: insert: %w", err)
	}
	return res.Job.ID, nil
}

func (q *Queue) cancel(ctx context.Context, tx pgx.Tx, jobID int64) error {
	_, err := q.client.JobCancelTx(ctx, tx, jobID)
	if err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("river: cancel: %w", err)
	}
	return nil
}

type scanWorker struct {
	river.WorkerDefaults[scanArgs]
	q *Queue
}

// Timeout bounds a job a little beyond the scan's own timeout, which ends it first.
func (w *scanWorker) Timeout(*river.Job[scanArgs]) time.Duration {
	return w.q.scans.limits.Timeout + 30*time.Second
}

// Work runs one scan.
func (w *scanWorker) Work(ctx context.Context, job *river.Job[scanArgs]) error {
	return w.q.scans.run(ctx, job.Args, job.Attempt, job.MaxAttempts)
}

// errBusy means a concurrency limit is reached: the job waits its turn.
var errBusy = errors.New("concurrency limit reached")

// claim marks a scan running when the organisation's and the target host's
// limits allow, under advisory locks taken in one order (organisation, then
// host), so concurrent claims neither deadlock nor overshoot. It answers the
// scan, or nil when the scan is no longer to be run.
func (s *Scans) claim(ctx context.Context, a scanArgs) (*Scan, error) {
	var out *Scan
	err := postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		// The row stays locked to the end: a cancel that commits meanwhile
		// waits, and then finds the scan running (and cancels it there).
		x, err := scanScan(tx.QueryRow(ctx, `SELECT `+scanCols+` FROM scans WHERE id = $1 AND org_id = $2 FOR UPDATE`, a.ScanID, a.OrgID))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if x.Status != StatusQueued && x.Status != StatusRunning {
			return nil
		}
		// The grant and ownership are checked again: they may have lapsed
		// while the scan waited.
		var reason string
		err = tx.QueryRow(ctx, `SELECT CASE
				WHEN a.id IS NULL THEN 'asset: the asset was deleted'
				WHEN a.environment = 'PRODUCTION' AND a.verified_at IS NULL THEN 'verification: ownership is not verified'
				WHEN g.id IS NULL OR g.revoked_at IS NOT NULL OR g.expires_at <= now() THEN 'grant: the scan grant is no longer active'
				ELSE '' END
			FROM (SELECT 1) one LEFT JOIN assets a ON a.id = $1 AND a.org_id = $3 LEFT JOIN grants g ON g.id = $2 AND g.org_id = $3`,
			x.AssetID, x.GrantID, x.OrgID).Scan(&reason)
		if err != nil {
			return err
		}
		if reason != "" {
			_, err := tx.Exec(ctx, `UPDATE scans SET status = 'FAILED', error = $2, ended_at = now(), updated_at = now() WHERE id = $1`,
				x.ID, reason)
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pythorix.scan.org'), hashtext($1)),
			pg_advisory_xact_lock(hashtext('pythorix.scan.host'), hashtext($2))`, x.OrgID, x.Target); err != nil {
			return err
		}
		var inOrg, onHost int
		if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE org_id = $2),
				count(*) FILTER (WHERE target = $3)
			FROM scans WHERE status = 'RUNNING' AND id <> $1 AND (org_id = $2 OR target = $3)`,
			x.ID, x.OrgID, x.Target).Scan(&inOrg, &onHost); err != nil {
			return err
		}
		if inOrg >= s.limits.PerOrg || onHost >= s.limits.PerHost {
			return errBusy
		}
		out, err = scanScan(tx.QueryRow(ctx, `UPDATE scans SET status = 'RUNNING', progress = 0, error = '',
			started_at = coalesce(started_at, now()), updated_at = now() WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')
			RETURNING `+scanCols, x.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			out, err = nil, nil
		}
		return err
	})
	return out, err
}

// run works one scan job end to end.
func (s *Scans) run(ctx context.Context, a scanArgs, attempt, maxAttempts int) error {
	x, err := s.claim(ctx, a)
	if errors.Is(err, errBusy) {
		return river.JobSnooze(500*time.Millisecond + rand.N(time.Second))
	}
	if err != nil || x == nil {
		return err
	}
	asset, err := s.assetHost(ctx, x)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, s.limits.Timeout)
	defer cancel()
	var mu sync.Mutex
	last := 0
	res, err := s.scanner.Scan(sctx, targetOf(asset), func(p int) {
		mu.Lock()
		defer mu.Unlock()
		if p < last+10 && p < 100 {
			return
		}
		last = p
		// Progress is advisory: a failed update is not worth failing the scan.
		_ = s.update(sctx, x, `UPDATE scans SET progress = $2, updated_at = now() WHERE id = $1 AND status = 'RUNNING'`, min(p, 99))
	})
	// Storing the outcome outlives the job's context, within a bound.
	bg, cancelBG := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelBG()
	if err == nil {
		return s.complete(bg, x, res)
	}
	timedOut := ctx.Err() == nil && (errors.Is(sctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded))
	// Why the scan stopped decides what happens to it.
	status, serr := s.status(bg, x)
	switch {
	case serr != nil:
		return serr
	case status == StatusCanceled:
		return river.JobCancel(err)
	case timedOut:
		return s.fail(bg, x, fmt.Sprintf("the scan did not finish within %s", s.limits.Timeout))
	case errors.Is(err, egress.ErrBlocked):
		return s.fail(bg, x, "the target's address is not one scans may reach")
	case ctx.Err() != nil:
		// The process is stopping: back to the queue, to run again. A
		// snooze does not use up an attempt.
		if uerr := s.update(bg, x, `UPDATE scans SET status = 'QUEUED', progress = 0, updated_at = now() WHERE id = $1 AND status = 'RUNNING'`); uerr != nil {
			return errors.Join(err, uerr)
		}
		return river.JobSnooze(time.Second)
	case attempt < maxAttempts:
		uerr := s.update(bg, x, `UPDATE scans SET status = 'QUEUED', progress = 0, error = left($2, 1000), updated_at = now()
			WHERE id = $1 AND status = 'RUNNING'`, "attempt "+fmt.Sprint(attempt)+" failed: "+err.Error())
		return errors.Join(err, uerr)
	default:
		return s.fail(bg, x, err.Error())
	}
}

// update runs one statement on a scan's row in its organisation; the first
// argument is the scan's id.
func (s *Scans) update(ctx context.Context, x *Scan, sql string, args ...any) error {
	return postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, append([]any{x.ID}, args...)...)
		return err
	})
}

// sweep fails the scans whose job ended without a result (discarded after
// its last attempt, lost with a crashed process): without it they would
// count against the concurrency limits forever.
func (s *Scans) sweep(ctx context.Context) (int, error) {
	n := 0
	err := postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE scans sc SET status = 'FAILED', error = 'the scan ended without a result', ended_at = now(),
			updated_at = now() WHERE sc.status IN ('QUEUED', 'RUNNING') AND sc.updated_at < now() - interval '1 minute'
			AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = sc.job_id
				AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
			RETURNING sc.id::text, sc.org_id::text, sc.asset_id::text`)
		if err != nil {
			return err
		}
		type swept struct{ id, org, asset string }
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (swept, error) {
			var x swept
			return x, r.Scan(&x.id, &x.org, &x.asset)
		})
		if err != nil {
			return err
		}
		for _, x := range list {
			if err := outbox.Append(ctx, tx, systemEvent(x.org, "scanning.scan.fail", x.id, map[string]any{"asset_id": x.asset,
				"reason": "the scan ended without a result"})); err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	return n, err
}

func (s *Scans) assetHost(ctx context.Context, x *Scan) (string, error) {
	var host string
	err := postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT host FROM assets WHERE id = $1 AND org_id = $2`, x.AssetID, x.OrgID).Scan(&host)
	})
	return host, err
}

func (s *Scans) status(ctx context.Context, x *Scan) (string, error) {
	var st string
	err := postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status FROM scans WHERE id = $1`, x.ID).Scan(&st)
	})
	return st, err
}

func (s *Scans) fail(ctx context.Context, x *Scan, reason string) error {
	return postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE scans SET status = 'FAILED', error = left($2, 1000), ended_at = now(), updated_at = now()
			WHERE id = $1 AND status = 'RUNNING'`, x.ID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return outbox.Append(ctx, tx, systemEvent(x.OrgID, "scanning.scan.fail", x.ID, map[string]any{"asset_id": x.AssetID}))
	})
}

// complete stores a finished scan and moves each of the asset's findings
// to its new state: NEW, PERSISTING, REGRESSED (seen again after being
// resolved) or RESOLVED (no longer seen).
func (s *Scans) complete(ctx context.Context, x *Scan, res *scanner.Result) error {
	tests, err := json.Marshal(res.Tests)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		var previous string
		err := tx.QueryRow(ctx, `SELECT grade FROM scans WHERE asset_id = $1 AND status = 'SUCCEEDED' AND id <> $2
			ORDER BY ended_at DESC LIMIT 1`, x.AssetID, x.ID).Scan(&previous)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE scans SET status = 'SUCCEEDED', progress = 100, grade = $2, score = $3, header_grade = $4,
			header_score = $5, tls_cap = $6, requests = $7, tests = $8, error = '', ended_at = $9, updated_at = $9
			WHERE id = $1 AND status = 'RUNNING'`, x.ID, res.Grade, res.Score, res.HeaderGrade, res.HeaderScore, res.Cap,
			res.Requests, tests, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // canceled meanwhile: the result is dropped
		}
		// One scan of an asset updates its findings at a time.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pythorix.findings'), hashtext($1))`, x.AssetID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+findingCols+` FROM findings WHERE asset_id = $1 AND org_id = $2`, x.AssetID, x.OrgID)
		if err != nil {
			return err
		}
		prev, err := pgx.CollectRows(rows, scanFinding)
		if err != nil {
			return err
		}
		before := make(map[string]*Finding, len(prev))
		for _, f := range prev {
			before[f.Fingerprint] = f
		}
		var batch pgx.Batch
		seen := make(map[string]bool, len(res.Findings))
		counts := map[string]int{}
		var events []outEvent
		for _, rf := range res.Findings {
			if seen[rf.Fingerprint] {
				continue
			}
			seen[rf.Fingerprint] = true
			f := &Finding{OrgID: x.OrgID, ScanID: x.ID, AssetID: x.AssetID, CheckID: rf.CheckID, Severity: severityOf(rf),
				Status: FindingNew, Location: clip(rf.Location, 2048), Subject: clip(rf.Subject, 512), Detail: clip(rf.Detail, 2048),
				Evidence: finding.Clean(rf.Evidence), Fingerprint: rf.Fingerprint, FirstSeen: now, LastSeen: now}
			id := newID()
			if p, ok := before[rf.Fingerprint]; ok {
				f.FirstSeen, id = p.FirstSeen, p.ID
				f.Status = FindingPersisting
				if p.Status == FindingResolved {
					f.Status = FindingRegressed
				}
			}
			counts[f.Status]++
			queueFinding(&batch, "scan_findings", newID(), f)
			queueFinding(&batch, "findings", id, f)
			if (f.Status == FindingNew || f.Status == FindingRegressed) && len(events) < maxFindingEvents {
				events = append(events, newEvent(EventFindingCreated, map[string]any{"finding_id": id, "scan_id": x.ID,
					"asset_id": x.AssetID, "target": x.Target, "check_id": f.CheckID, "severity": f.Severity.String(),
					"status": f.Status, "location": f.Location, "subject": f.Subject, "title": checkTitle(f.CheckID)}))
			}
		}
		for _, p := range prev {
			if seen[p.Fingerprint] || p.Status == FindingResolved {
				continue
			}
			p.Status, p.ScanID = FindingResolved, x.ID
			counts[p.Status]++
			queueFinding(&batch, "scan_findings", newID(), p)
			queueFinding(&batch, "findings", p.ID, p)
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return err
		}
		events = append(events, newEvent(EventScanCompleted, map[string]any{"scan_id": x.ID, "asset_id": x.AssetID,
			"target": x.Target, "grade": res.Grade, "score": res.Score, "previous_grade": previous,
			"new": counts[FindingNew], "persisting": counts[FindingPersisting], "regressed": counts[FindingRegressed],
			"resolved": counts[FindingResolved]}))
		if previous != "" && previous != res.Grade {
			events = append(events, newEvent(EventGradeChanged, map[string]any{"scan_id": x.ID, "asset_id": x.AssetID,
				"target": x.Target, "grade": res.Grade, "previous_grade": previous}))
		}
		if err := s.queue.queueEvents(ctx, tx, x.OrgID, events); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, systemEvent(x.OrgID, "scanning.scan.complete", x.ID, map[string]any{
			"asset_id": x.AssetID, "grade": res.Grade, "score": res.Score, "requests": res.Requests,
			"new": counts[FindingNew], "persisting": counts[FindingPersisting], "regressed": counts[FindingRegressed],
			"resolved": counts[FindingResolved]}))
	})
}

func severityOf(f scanner.Finding) finding.Severity {
	if f.Severity >= finding.Info && f.Severity <= finding.Critical {
		return f.Severity
	}
	if c, ok := catalogSeverity(f.CheckID); ok {
		return c
	}
	return finding.Info
}

func clip(s string, n int) string { return redact.Bound(s, n) }

// queueFinding writes a finding's state into scan_findings (a new row) or
// findings (the asset's current state, one row per fingerprint).
func queueFinding(b *pgx.Batch, table, id string, f *Finding) {
	sql := `INSERT INTO scan_findings (id, org_id, scan_id, asset_id, check_id, severity, sev_rank, status, location, subject,
		detail, evidence, fingerprint, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	if table == "findings" {
		sql = `INSERT INTO findings (id, org_id, scan_id, asset_id, check_id, severity, sev_rank, status, location, subject,
			detail, evidence, fingerprint, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (asset_id, fingerprint) DO UPDATE SET scan_id = EXCLUDED.scan_id, check_id = EXCLUDED.check_id,
			severity = EXCLUDED.severity, sev_rank = EXCLUDED.sev_rank, status = EXCLUDED.status, location = EXCLUDED.location,
			subject = EXCLUDED.subject, detail = EXCLUDED.detail, evidence = EXCLUDED.evidence, last_seen = EXCLUDED.last_seen`
	}
	b.Queue(sql, id, f.OrgID, f.ScanID, f.AssetID, f.CheckID, f.Severity.String(), int(f.Severity), f.Status, f.Location,
		f.Subject, f.Detail, f.Evidence, f.Fingerprint, f.FirstSeen, f.LastSeen)
}
