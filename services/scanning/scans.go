package scanning

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/observatory"
	"github.com/pythorix/pythorix/services/scanning/report"
	"github.com/pythorix/pythorix/services/scanning/scanner"
)

// Scan errors; each names what is missing, and the gRPC edge maps them.
var (
	ErrNoGrant      = errors.New("grant: the asset has no active scan grant")
	ErrNotVerified  = errors.New("verification: a production asset needs verified ownership before it is scanned")
	ErrNoActor      = errors.New("actor: the request carries no user to record as the scan's actor")
	ErrScanFinished = errors.New("status: the scan has already finished")
	ErrScanNotDone  = errors.New("status: the scan has not succeeded, so it has no report")
	ErrTooManyScans = errors.New("too many queued or running scans in this organisation")
)

// Scan statuses as stored.
const (
	StatusQueued    = "QUEUED"
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusCanceled  = "CANCELED"
)

// Finding statuses as stored.
const (
	FindingNew        = "NEW"
	FindingPersisting = "PERSISTING"
	FindingResolved   = "RESOLVED"
	FindingRegressed  = "REGRESSED"
)

// Scan is one read-only posture scan of an asset.
type Scan struct {
	ID, OrgID, AssetID, ProjectID, Target   string
	ActorID, APIKeyID, GrantID              string
	Status, Grade, HeaderGrade, TLSCap, Err string
	Score, HeaderScore, Progress, Requests  int
	Tests                                   []observatory.Test
	JobID                                   *int64
	CreatedAt, UpdatedAt                    time.Time
	StartedAt, EndedAt                      *time.Time
}

// Finding is the state of one finding, as a scan saw it or as it stands.
type Finding struct {
	ID, OrgID, ScanID, AssetID, CheckID string
	Severity                            finding.Severity
	Status                              string
	Location, Subject, Detail, Evidence string
	Fingerprint                         string
	FirstSeen, LastSeen                 time.Time
}

// Actor is who asks for a scan: a user, possibly through one of their API keys.
type Actor struct{ UserID, APIKeyID, KeyProject string }

// Scanner runs one scan; scanner.Scanner is the real one.
type Scanner interface {
	Scan(ctx context.Context, t scanner.Target, progress scanner.Progress) (*scanner.Result, error)
}

var _ Scanner = (*scanner.Scanner)(nil)

// Limits bound the scan queue.
type Limits struct {
	// PerOrg is how many scans of one organisation run at once.
	PerOrg int
	// PerHost is how many scans of one target host run at once, across organisations.
	PerHost int
	// Active is how many scans an organisation may have queued or running.
	Active int
	// Workers is how many scans one process runs at once.
	Workers int
	// Timeout bounds one scan.
	Timeout time.Duration
	// MaxAttempts is how often a scan is tried when it fails for a transient reason.
	MaxAttempts int
}

func (l Limits) withDefaults() Limits {
	if l.PerOrg <= 0 {
		l.PerOrg = 4
	}
	if l.PerHost <= 0 {
		l.PerHost = 1
	}
	if l.Active <= 0 {
		l.Active = 100
	}
	if l.Workers <= 0 {
		l.Workers = 10
	}
	if l.Timeout <= 0 {
		l.Timeout = 2 * time.Minute
	}
	if l.MaxAttempts <= 0 {
		l.MaxAttempts = 3
	}
	return l
}

// Scans is the domain of scans and findings.
type Scans struct {
	db      *pgxpool.Pool
	queue   *Queue
	scanner Scanner
	limits  Limits
	now     func() time.Time
}

const scanCols = `id::text, org_id::text, asset_id::text, coalesce(project_id::text, ''), target, actor_id::text,
	coalesce(api_key_id::text, ''), grant_id::text, status, grade, header_grade, tls_cap, error, score, header_score,
	progress, requests, tests, job_id, created_at, updated_at, started_at, ended_at`

func scanScan(r pgx.Row) (*Scan, error) {
	x := &Scan{}
	var tests []byte
	err := r.Scan(&x.ID, &x.OrgID, &x.AssetID, &x.ProjectID, &x.Target, &x.ActorID, &x.APIKeyID, &x.GrantID, &x.Status,
		&x.Grade, &x.HeaderGrade, &x.TLSCap, &x.Err, &x.Score, &x.HeaderScore, &x.Progress, &x.Requests, &tests, &x.JobID,
		&x.CreatedAt, &x.UpdatedAt, &x.StartedAt, &x.EndedAt)
	if err != nil {
		return nil, err
	}
	if len(tests) > 0 {
		if err := json.Unmarshal(tests, &x.Tests); err != nil {
			return nil, fmt.Errorf("scan %s: tests: %w", x.ID, err)
		}
	}
	return x, nil
}

// target splits an asset's host (name[:port][/path]) into what the scanner reaches.
// The default port is dropped, so that "example.com" and "example.com:443"
// count as one host for the per-host limit.
func targetOf(host string) scanner.Target {
	h, path, _ := strings.Cut(host, "/")
	return scanner.Target{Host: strings.TrimSuffix(strings.ToLower(h), ":443"), Path: "/" + path}
}

// Create queues a scan of an asset. It needs an actor, an asset of the
// organisation, an active grant for it and, for production, verified
// ownership; the scan row and its queue job commit together.
func (s *Scans) Create(ctx context.Context, a Actor, orgID, assetID string) (*Scan, error) {
	if a.UserID == "" {
		return nil, ErrNoActor
	}
	var out *Scan
	err := postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		var host, env, project string
		var verified bool
		err := tx.QueryRow(ctx, `SELECT host, environment, coalesce(project_id::text, ''), verified_at IS NOT NULL
			FROM assets WHERE id = $1 AND org_id = $2 FOR SHARE`, assetID, orgID).Scan(&host, &env, &project, &verified)
		if err != nil {
			return err
		}
		if a.KeyProject != "" && project != a.KeyProject {
			return ErrNotFound
		}
		if env == "PRODUCTION" && !verified {
			return ErrNotVerified
		}
		var grantID string
		err = tx.QueryRow(ctx, `SELECT id::text FROM grants WHERE asset_id = $1 AND org_id = $2 AND revoked_at IS NULL
			AND expires_at > now() ORDER BY expires_at DESC LIMIT 1`, assetID, orgID).Scan(&grantID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoGrant
		}
		if err != nil {
			return err
		}
		// Creations in an organisation take turns, so the cap holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pythorix.scan.create'), hashtext($1))`, orgID); err != nil {
			return err
		}
		var active int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM scans WHERE org_id = $1 AND status IN ('QUEUED', 'RUNNING')`,
			orgID).Scan(&active); err != nil {
			return err
		}
		if active >= s.limits.Active {
			return ErrTooManyScans
		}
		id := newID()
		if _, err := tx.Exec(ctx, `INSERT INTO scans (id, org_id, asset_id, project_id, target, actor_id, api_key_id, grant_id, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'QUEUED')`, id, orgID, assetID, postgres.NullIfEmpty(project), targetOf(host).Host,
			a.UserID, postgres.NullIfEmpty(a.APIKeyID), grantID); err != nil {
			return err
		}
		jobID, err := s.queue.enqueue(ctx, tx, scanArgs{ScanID: id, OrgID: orgID})
		if err != nil {
			return err
		}
		if out, err = scanScan(tx.QueryRow(ctx, `UPDATE scans SET job_id = $2 WHERE id = $1 RETURNING `+scanCols, id, jobID)); err != nil {
			return err
		}
		details := map[string]any{"asset_id": assetID, "grant_id": grantID, "target": out.Target}
		if a.APIKeyID != "" {
			details["api_key_id"] = a.APIKeyID
		}
		return outbox.Append(ctx, tx, event(orgID, a.UserID, "scanning.scan.create", "scan", id, details))
	})
	return out, mapErr(err)
}

// Get returns a scan of the organisation.
func (s *Scans) Get(ctx context.Context, orgID, id, keyProject string) (*Scan, error) {
	var out *Scan
	err := postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		var err error
		out, err = scanScan(tx.QueryRow(ctx, `SELECT `+scanCols+` FROM scans WHERE id = $1 AND org_id = $2`, id, orgID))
		return err
	})
	if err == nil && keyProject != "" && out.ProjectID != keyProject {
		return nil, ErrNotFound
	}
	return out, mapErr(err)
}

// ScanFilter narrows a listing of scans.
type ScanFilter struct {
	AssetID, Status, ProjectID, After string
	Limit                             int
}

// List pages through the organisation's scans, newest first.
func (s *Scans) List(ctx context.Context, orgID string, f ScanFilter) ([]*Scan, string, error) {
	f.Limit = page.Size(f.Limit)
	after, err := page.After(f.After)
	if err != nil {
		return nil, "", err
	}
	var list []*Scan
	err = postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+scanCols+` FROM scans WHERE org_id = $1 AND id < $2::uuid
			AND ($3 = '' OR asset_id::text = $3) AND ($4 = '' OR status = $4) AND ($5 = '' OR project_id::text = $5)
			ORDER BY id DESC LIMIT $6`, orgID, after, f.AssetID, f.Status, f.ProjectID, f.Limit+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Scan, error) { return scanScan(r) })
		return err
	})
	if err != nil {
		return nil, "", mapErr(err)
	}
	list, next := page.Trim(list, f.Limit, func(x *Scan) string { return x.ID })
	return list, next, nil
}

// Cancel cancels a queued or running scan; its queue job is canceled in the
// same transaction, and a running worker learns of it through River's
// notifications and stops.
func (s *Scans) Cancel(ctx context.Context, actor, orgID, id, keyProject string) (*Scan, error) {
	var out *Scan
	err := postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		x, err := scanScan(tx.QueryRow(ctx, `SELECT `+scanCols+` FROM scans WHERE id = $1 AND org_id = $2 FOR UPDATE`, id, orgID))
		if err != nil {
			return err
		}
		if keyProject != "" && x.ProjectID != keyProject {
			return ErrNotFound
		}
		if x.Status != StatusQueued && x.Status != StatusRunning {
			return ErrScanFinished
		}
		if err := s.cancelInTx(ctx, tx, `id = $1`, id, "canceled by "+actor); err != nil {
			return err
		}
		if out, err = scanScan(tx.QueryRow(ctx, `SELECT `+scanCols+` FROM scans WHERE id = $1`, id)); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "scanning.scan.cancel", "scan", id, map[string]any{"asset_id": x.AssetID}))
	})
	return out, mapErr(err)
}

// cancelInTx cancels the active scans matching where ($1 is arg) and their
// queue jobs, inside the caller's transaction.
func (s *Scans) cancelInTx(ctx context.Context, tx pgx.Tx, where, arg, reason string) error {
	rows, err := tx.Query(ctx, `UPDATE scans SET status = 'CANCELED', error = left($2, 1000), ended_at = now(), updated_at = now()
		WHERE `+where+` AND status IN ('QUEUED', 'RUNNING') RETURNING job_id`, arg, reason)
	if err != nil {
		return err
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[*int64])
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j != nil {
			if err := s.queue.cancel(ctx, tx, *j); err != nil {
				return err
			}
		}
	}
	return nil
}

// findingToken is a keyset position in a listing ordered by severity, then id.
func findingToken(rank int, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(rank) + "/" + id))
}

func parseFindingToken(tok string) (int, string, error) {
	if tok == "" {
		return 99, "", nil
	}
	bad := &invalid.Field{Name: "pageToken", Reason: "is not a token this API issued"}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", bad
	}
	r, id, ok := strings.Cut(string(b), "/")
	rank, err := strconv.Atoi(r)
	if !ok || err != nil || rank < 0 || rank > 9 {
		return 0, "", bad
	}
	if _, err := uuid.Parse(id); err != nil {
		return 0, "", bad
	}
	return rank, id, nil
}

// FindingFilter narrows a listing of findings.
type FindingFilter struct {
	AssetID, ProjectID, After string
	Severities, Statuses      []string
	Limit                     int
}

const findingCols = `id::text, org_id::text, scan_id::text, asset_id::text, check_id, severity, status, location, subject,
	detail, evidence, fingerprint, first_seen, last_seen, sev_rank`

func scanFinding(r pgx.CollectableRow) (*Finding, error) {
	f := &Finding{}
	var sev string
	var rank int
	err := r.Scan(&f.ID, &f.OrgID, &f.ScanID, &f.AssetID, &f.CheckID, &sev, &f.Status, &f.Location, &f.Subject, &f.Detail,
		&f.Evidence, &f.Fingerprint, &f.FirstSeen, &f.LastSeen, &rank)
	f.Severity = finding.Severity(rank)
	return f, err
}

// ScanFindings pages through one scan's findings, most severe first.
func (s *Scans) ScanFindings(ctx context.Context, orgID, scanID, keyProject string, f FindingFilter) ([]*Finding, string, error) {
	if _, err := s.Get(ctx, orgID, scanID, keyProject); err != nil {
		return nil, "", err
	}
	return s.listFindings(ctx, orgID, "scan_findings", scanID, f)
}

// Findings pages through the current state of the organisation's findings
// (one per asset and fingerprint), most severe first.
func (s *Scans) Findings(ctx context.Context, orgID string, f FindingFilter) ([]*Finding, string, error) {
	return s.listFindings(ctx, orgID, "findings", "", f)
}

// listFindings runs one keyset page over table (one of two constants).
func (s *Scans) listFindings(ctx context.Context, orgID, table, scanID string, f FindingFilter) ([]*Finding, string, error) {
	f.Limit = page.Size(f.Limit)
	rank, after, err := parseFindingToken(f.After)
	if err != nil {
		return nil, "", err
	}
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	var list []*Finding
	err = postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+findingCols+` FROM `+table+` WHERE org_id = $1
			AND (sev_rank < $2 OR (sev_rank = $2 AND id > $3::uuid))
			AND ($4 = '' OR asset_id::text = $4)
			AND (coalesce(cardinality($5::text[]), 0) = 0 OR severity = ANY($5))
			AND (coalesce(cardinality($6::text[]), 0) = 0 OR status = ANY($6))
			AND ($8 = '' OR asset_id IN (SELECT id FROM assets WHERE org_id = $1 AND project_id::text = $8))
			AND ($9 = '' OR scan_id::text = $9)
			ORDER BY sev_rank DESC, id LIMIT $7`,
			orgID, rank, after, f.AssetID, f.Severities, f.Statuses, f.Limit+1, f.ProjectID, scanID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, scanFinding)
		return err
	})
	if err != nil {
		return nil, "", mapErr(err)
	}
	if len(list) <= f.Limit {
		return list, "", nil
	}
	list = list[:f.Limit]
	last := list[len(list)-1]
	return list, findingToken(int(last.Severity), last.ID), nil
}

// AllScanFindings returns every finding of a scan (at most a few hundred),
// for reports.
func (s *Scans) AllScanFindings(ctx context.Context, orgID, scanID string) ([]*Finding, error) {
	var list []*Finding
	err := postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+findingCols+` FROM scan_findings WHERE scan_id = $1 AND org_id = $2
			ORDER BY sev_rank DESC, check_id, id LIMIT 1000`, scanID, orgID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, scanFinding)
		return err
	})
	return list, mapErr(err)
}

// Report gathers a succeeded scan and its findings for a report.
func (s *Scans) Report(ctx context.Context, orgID, id, keyProject string) (*report.Scan, error) {
	x, err := s.Get(ctx, orgID, id, keyProject)
	if err != nil {
		return nil, err
	}
	if x.Status != StatusSucceeded {
		return nil, ErrScanNotDone
	}
	list, err := s.AllScanFindings(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	out := &report.Scan{ID: x.ID, OrgID: x.OrgID, AssetID: x.AssetID, AssetHost: x.Target, Status: x.Status, Grade: x.Grade,
		Score: x.Score, HeaderScore: x.HeaderScore, HeaderGrade: x.HeaderGrade, Cap: x.TLSCap, ActorID: x.ActorID,
		GrantID: x.GrantID, CreateTime: x.CreatedAt, Requests: x.Requests}
	if x.StartedAt != nil {
		out.StartTime = *x.StartedAt
	}
	if x.EndedAt != nil {
		out.EndTime = *x.EndedAt
	}
	for _, t := range x.Tests {
		out.Tests = append(out.Tests, report.Test{Name: t.Name, Result: t.Result, Modifier: t.Modifier, Pass: t.Pass, Description: t.Description})
	}
	for _, f := range list {
		out.Findings = append(out.Findings, report.Finding{ID: f.ID, CheckID: f.CheckID, Status: f.Status, Severity: f.Severity,
			Location: f.Location, Subject: f.Subject, Detail: f.Detail, Evidence: f.Evidence, Fingerprint: f.Fingerprint,
			FirstSeen: f.FirstSeen, LastSeen: f.LastSeen})
	}
	return out, nil
}

// systemEvent records what the scanner did on its own (a scan finishing).
func systemEvent(orgID, action, id string, details map[string]any) *auditv1.EventInput {
	ev := event(orgID, "", action, "scan", id, details)
	ev.Actor = &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_SYSTEM}
	return ev
}
