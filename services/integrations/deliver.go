package integrations

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/redact"
	"github.com/pythorix/pythorix/platform/riverq"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/services/integrations/signing"
)

// Delivery statuses.
const (
	StatusPending   = "PENDING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusRetrying  = "RETRYING"
)

// TestEvent is the event type TestIntegration sends.
const TestEvent = "integration.test"

// Delivery is one event sent (or being sent) to one integration.
type Delivery struct {
	ID, OrgID, IntegrationID, EventID, EventType, Status string
	Payload                                              map[string]any
	Attempts, ResponseStatus                             int
	LatencyMS                                            int64
	Snippet, Err, ReplayOf                               string
	CreatedAt                                            time.Time
	LastAttemptAt, NextAttemptAt                         *time.Time
}

const deliveryCols = `id::text, org_id::text, integration_id::text, event_id::text, event_type, payload, status, attempts,
	response_status, latency_ms, response_snippet, error, coalesce(replay_of::text, ''), created_at, last_attempt_at, next_attempt_at`

func scanDelivery(r pgx.Row) (*Delivery, error) {
	var d Delivery
	var payload []byte
	if err := r.Scan(&d.ID, &d.OrgID, &d.IntegrationID, &d.EventID, &d.EventType, &payload, &d.Status, &d.Attempts,
		&d.ResponseStatus, &d.LatencyMS, &d.Snippet, &d.Err, &d.ReplayOf, &d.CreatedAt, &d.LastAttemptAt, &d.NextAttemptAt); err != nil {
		return nil, err
	}
	return &d, json.Unmarshal(payload, &d.Payload)
}

// Retry is how deliveries are retried and when an endpoint is given up.
type Retry struct {
	// Schedule is the wait before each retry; its length bounds the attempts.
	Schedule []time.Duration
	// DisableAfter disables an integration whose deliveries have failed
	// without a success for this long.
	DisableAfter time.Duration
}

// DefaultRetry spreads 15 attempts over about three and a half days, with
// the integration disabled after three days of failures.
var DefaultRetry = Retry{
	Schedule: []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour,
		12 * time.Hour, 12 * time.Hour},
	DisableAfter: 72 * time.Hour,
}

// Providers are the endpoints of the providers' APIs (tests point them at
// local receivers).
type Providers struct {
	SlackAPI     string // https://slack.com/api
	PagerDutyURL string // https://events.pagerduty.com/v2/enqueue
}

// DefaultProviders are the providers' public endpoints.
var DefaultProviders = Providers{SlackAPI: "https://slack.com/api", PagerDutyURL: "https://events.pagerduty.com/v2/enqueue"}

// deliverArgs is a delivery job: the delivery row holds everything else.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
	OrgID      string `json:"org_id"`
}

// Kind implements river.JobArgs.
func (deliverArgs) Kind() string { return "pythorix.delivery" }

const deliveryQueue = "deliveries"

// Deliveries fans events out to integrations and delivers them.
type Deliveries struct {
	db        *pgxpool.Pool
	store     *Store
	client    *http.Client
	river     *river.Client[pgx.Tx]
	retry     Retry
	providers Providers
	timeout   time.Duration
	log       *slog.Logger
	now       func() time.Time
}

const (
	// maxPayload bounds an event's encoded payload.
	maxPayload = 64 << 10
	// snippetLimit bounds the response kept in the delivery log.
	snippetLimit = 1 << 10
	// maxResponse bounds what is read of a response.
	maxResponse = 64 << 10
	// DefaultTimeout bounds one attempt, connection to last byte.
	DefaultTimeout = 10 * time.Second
)

// NewDeliveries builds the delivery engine and its River client.
func NewDeliveries(db *pgxpool.Pool, store *Store, guard *egress.Guard, retry Retry, providers Providers, workers int,
	timeout time.Duration, log *slog.Logger) (*Deliveries, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := &Deliveries{db: db, store: store, retry: retry, providers: providers, log: log, now: time.Now, timeout: timeout,
		// Redirects are not followed: a destination is the URL configured.
		client: guard.Client(egress.ClientOptions{Timeout: timeout, RootCAs: store.rootCAs})}
	workersReg := river.NewWorkers()
	if err := river.AddWorkerSafely(workersReg, &deliverWorker{d: d}); err != nil {
		return nil, err
	}
	c, err := river.NewClient(riverpgxv5.New(db), &river.Config{
		Queues:               map[string]river.QueueConfig{deliveryQueue: {MaxWorkers: max(workers, 1)}},
		Workers:              workersReg,
		Logger:               log.With("component", "river"),
		MaxAttempts:          len(retry.Schedule) + 1,
		JobTimeout:           timeout + 20*time.Second,
		RescueStuckJobsAfter: 2 * (timeout + 20*time.Second),
		FetchCooldown:        50 * time.Millisecond,
		FetchPollInterval:    500 * time.Millisecond,
		// The service's role owns nothing, so it cannot reindex River's tables.
		ReindexerIndexNames: []string{},
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	d.river = c
	return d, nil
}

// Run works deliveries until ctx ends, then stops gracefully.
func (d *Deliveries) Run(ctx context.Context) error {
	return riverq.Run(ctx, d.river, riverq.Sweep{Every: time.Minute, Run: d.sweep,
		What: "deliveries whose job ended without a result"}, d.log)
}

// subscribed reports whether an integration takes an event.
func subscribed(x *Integration, eventType string, payload map[string]any) bool {
	if eventType == TestEvent {
		return true
	}
	switch x.Kind {
	case KindWebhook:
		return len(x.Config.Events) == 0 || slices.Contains(x.Config.Events, eventType)
	case KindJira, KindPagerDuty:
		// Tickets and pages are for serious findings only.
		sev, _ := payload["severity"].(string)
		return eventType == "finding.created" && (sev == "HIGH" || sev == "CRITICAL")
	}
	return true
}

// Publish queues an event for every enabled integration of the
// organisation that takes it, once per event id, in one transaction: the
// deliveries and their jobs exist together or not at all.
func (d *Deliveries) Publish(ctx context.Context, orgID, eventID, eventType string, payload map[string]any) (int, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, err
	}
	if len(body) > maxPayload {
		return 0, errPayloadTooLarge
	}
	queued := 0
	err = postgres.InOrg(ctx, d.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO events (id, org_id, type) VALUES ($1, $2, $3) ON CONFLICT (org_id, id) DO NOTHING`,
			eventID, orgID, eventType)
		if err != nil || tag.RowsAffected() == 0 {
			return err // a repeated event id: already fanned out
		}
		rows, err := tx.Query(ctx, `SELECT `+integrationCols+` FROM integrations WHERE org_id = $1 AND enabled`, orgID)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Integration, error) { return scanIntegration(r) })
		if err != nil {
			return err
		}
		for _, x := range list {
			if !subscribed(x, eventType, payload) {
				continue
			}
			if _, err := d.enqueue(ctx, tx, x, eventID, eventType, body, ""); err != nil {
				return err
			}
			queued++
		}
		return nil
	})
	return queued, mapErr(err)
}

var errPayloadTooLarge = errors.New("the event payload is larger than 64 KiB")

// enqueue inserts a delivery and its job in tx.
func (d *Deliveries) enqueue(ctx context.Context, tx pgx.Tx, x *Integration, eventID, eventType string, body []byte, replayOf string) (*Delivery, error) {
	id := uuid.Must(uuid.NewV7()).String()
	out, err := scanDelivery(tx.QueryRow(ctx, `INSERT INTO deliveries (id, org_id, integration_id, event_id, event_type, payload,
		replay_of, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now()) RETURNING `+deliveryCols,
		id, x.OrgID, x.ID, eventID, eventType, body, postgres.NullIfEmpty(replayOf)))
	if err != nil {
		return nil, err
	}
	if _, err := d.river.InsertTx(ctx, tx, deliverArgs{DeliveryID: id, OrgID: x.OrgID}, &river.InsertOpts{Queue: deliveryQueue}); err != nil {
		return nil, fmt.Errorf("river: insert: %w", err)
	}
	return out, nil
}

// Replay sends a past delivery's event again, as a new delivery.
func (d *Deliveries) Replay(ctx context.Context, actor, orgID, id string) (*Delivery, error) {
	var out *Delivery
	err := postgres.InOrg(ctx, d.db, orgID, func(tx pgx.Tx) error {
		old, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = $1 AND org_id = $2`, id, orgID))
		if err != nil {
			return err
		}
		x, err := scanIntegration(tx.QueryRow(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = $1`, old.IntegrationID))
		if err != nil {
			return err
		}
		if !x.Enabled {
			return ErrDisabled
		}
		body, err := json.Marshal(old.Payload)
		if err != nil {
			return err
		}
		if out, err = d.enqueue(ctx, tx, x, old.EventID, old.EventType, body, old.ID); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "integrations.delivery.replay", x.ID,
			map[string]any{"delivery_id": out.ID, "replay_of": old.ID}))
	})
	return out, mapErr(err)
}

// Test sends a test event now and records it as a delivery (no retries).
func (d *Deliveries) Test(ctx context.Context, actor, orgID, id string) (*Delivery, error) {
	x, err := d.store.Get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if !x.Enabled {
		return nil, ErrDisabled
	}
	payload := map[string]any{"message": "A test event from Pythorix.", "integration_id": x.ID}
	body, _ := json.Marshal(payload)
	var dl *Delivery
	err = postgres.InOrg(ctx, d.db, orgID, func(tx pgx.Tx) error {
		dl, err = scanDelivery(tx.QueryRow(ctx, `INSERT INTO deliveries (id, org_id, integration_id, event_id, event_type, payload)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+deliveryCols,
			uuid.Must(uuid.NewV7()).String(), orgID, x.ID, uuid.NewString(), TestEvent, body))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "integrations.integration.test", x.ID, map[string]any{"delivery_id": dl.ID}))
	})
	if err != nil {
		return nil, mapErr(err)
	}
	res := d.send(ctx, x, dl)
	out, err := d.record(context.WithoutCancel(ctx), x, dl, res, true)
	if out == nil && err == nil {
		err = ErrNotFound
	}
	return out, err
}

// attempt is the outcome of one send.
type attempt struct {
	status  int
	latency time.Duration
	snippet string
	err     error
}

func (a attempt) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// send makes one attempt; it never returns the secret in an error.
func (d *Deliveries) send(ctx context.Context, x *Integration, dl *Delivery) attempt {
	cur, prev, err := d.store.secrets(ctx, x.OrgID, x.ID)
	if err != nil {
		return attempt{err: err}
	}
	req, err := d.request(ctx, x, dl, cur, prev)
	if err != nil {
		return attempt{err: err}
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return attempt{latency: time.Since(start), err: sanitize(err)}
	}
	defer resp.Body.Close()
	// Enough of the body to read a provider's verdict (Slack echoes the
	// message back); only the first 1 KB is kept.
	body, _, _ := egress.ReadBody(resp.Body, maxResponse)
	a := attempt{status: resp.StatusCode, latency: time.Since(start),
		snippet: redact.Text(string(body[:min(len(body), 4*snippetLimit)]), snippetLimit)}
	if x.Kind == KindSlack && a.ok() && strings.HasPrefix(cur.Reveal(), "xoxb-") {
		// The Web API answers 200 with {"ok": false} on failure.
		var r struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &r) != nil || !r.OK {
			a.err = fmt.Errorf("slack: %s", redact.Bound(r.Error, 100))
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		a.err = errors.New("the endpoint redirected; redirects are not followed")
	}
	return a
}

// sanitize turns a transport error into a fixed description: the raw
// error names the URL (a Slack webhook URL is a credential, in whatever
// spelling the URL parser prints) and the resolver's address.
func sanitize(err error) error {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, egress.ErrBlocked):
		return errors.New("the destination address is not allowed")
	case errors.As(err, &dnsErr):
		return errors.New("the destination's name does not resolve")
	case errors.As(err, &certErr):
		return errors.New("the destination's TLS certificate is not trusted")
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return errors.New("the destination did not answer in time")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("the destination refused the connection")
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the destination closed the connection")
	}
	return errors.New("the request to the destination failed")
}

// request builds the provider's request for a delivery.
func (d *Deliveries) request(ctx context.Context, x *Integration, dl *Delivery, cur secret.String, prev *secret.String) (*http.Request, error) {
	var (
		url  string
		body []byte
		err  error
		h    = http.Header{"Content-Type": {"application/json"}}
	)
	switch x.Kind {
	case KindWebhook:
		url = x.Config.URL
		now := d.now()
		body, err = json.Marshal(map[string]any{"type": dl.EventType, "timestamp": now.UTC().Format(time.RFC3339), "data": dl.Payload})
		if err != nil {
			return nil, err
		}
		keys := [][]byte{}
		for _, s := range []*secret.String{&cur, prev} {
			if s == nil {
				continue
			}
			k, err := signing.ParseSecret(s.Reveal())
			if err != nil {
				return nil, errors.New("the signing secret is not valid")
			}
			keys = append(keys, k)
		}
		// webhook-id is the event's: a receiver deduplicates retries and replays.
		for k, v := range signing.Headers(keys, "msg_"+dl.EventID, now, body) {
			h[k] = v
		}
	case KindSlack:
		text := summary(dl.EventType, dl.Payload)
		if strings.HasPrefix(cur.Reveal(), "xoxb-") {
			url = strings.TrimSuffix(d.providers.SlackAPI, "/") + "/chat.postMessage"
			h.Set("Authorization", "Bearer "+cur.Reveal())
			body, err = json.Marshal(map[string]any{"channel": x.Config.Channel, "text": text})
		} else {
			url = cur.Reveal()
			body, err = json.Marshal(map[string]any{"text": text})
		}
	case KindJira:
		url = strings.TrimSuffix(x.Config.BaseURL, "/") + "/rest/api/3/issue"
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(x.Config.Email+":"+cur.Reveal())))
		body, err = json.Marshal(map[string]any{"fields": map[string]any{
			"project":   map[string]any{"key": x.Config.ProjectKey},
			"issuetype": map[string]any{"name": "Bug"},
			"summary":   redact.Bound(summary(dl.EventType, dl.Payload), 250),
			"labels":    []string{"pythorix"},
			"description": map[string]any{"type": "doc", "version": 1, "content": []any{map[string]any{
				"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": describe(dl.Payload)}}}}},
		}})
	case KindPagerDuty:
		url = d.providers.PagerDutyURL
		sev, _ := dl.Payload["severity"].(string)
		body, err = json.Marshal(map[string]any{"routing_key": cur.Reveal(), "event_action": "trigger", "dedup_key": dl.EventID,
			"payload": map[string]any{"summary": redact.Bound(summary(dl.EventType, dl.Payload), 1024), "source": "pythorix",
				"severity": pagerDutySeverity(sev), "custom_details": dl.Payload}})
	default:
		return nil, fmt.Errorf("unknown kind %s", x.Kind)
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("the destination URL is not valid")
	}
	req.Header = h
	return req, nil
}

func pagerDutySeverity(sev string) string {
	switch sev {
	case "CRITICAL":
		return "critical"
	case "HIGH":
		return "error"
	case "MEDIUM":
		return "warning"
	}
	return "info"
}

// summary is a one-line human description of an event.
func summary(eventType string, p map[string]any) string {
	parts := []string{"Pythorix: " + eventType}
	for _, k := range []string{"title", "check_id", "severity", "target", "grade", "previous_grade", "message"} {
		if v, ok := p[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return redact.Bound(strings.Join(parts, " "), 3000)
}

func describe(p map[string]any) string {
	b, _ := json.MarshalIndent(p, "", "  ")
	return redact.Bound(string(b), 30000)
}

// record stores an attempt's outcome. A failure schedules the next attempt
// (unless final), marks the integration failing and disables it after
// Retry.DisableAfter of failures, in which case the delivery fails too. It
// answers nil when the delivery was already final (a duplicate run).
func (d *Deliveries) record(ctx context.Context, x *Integration, dl *Delivery, a attempt, final bool) (*Delivery, error) {
	status, errText := StatusSucceeded, ""
	var next *time.Time
	if !a.ok() {
		status = StatusRetrying
		if a.err != nil {
			errText = a.err.Error()
		} else {
			errText = fmt.Sprintf("the endpoint answered %d", a.status)
		}
		if final {
			status = StatusFailed
		} else {
			t := d.now().Add(d.backoff(dl.ID, dl.Attempts+1))
			next = &t
		}
	}
	snippet := a.snippet
	if a.status == 0 && errText != "" {
		snippet = "no response: " + errText // what the log can show of a failure without a response
	}
	var out *Delivery
	err := postgres.InOrg(ctx, d.db, x.OrgID, func(tx pgx.Tx) error {
		disabled := false
		if status != StatusSucceeded {
			var since time.Time
			if err := tx.QueryRow(ctx, `UPDATE integrations SET failing_since = coalesce(failing_since, now()) WHERE id = $1
				RETURNING failing_since`, x.ID).Scan(&since); err != nil {
				return err
			}
			if d.now().Sub(since) >= d.retry.DisableAfter {
				tag, err := tx.Exec(ctx, `UPDATE integrations SET enabled = false, updated_at = now(),
					disabled_reason = 'deliveries failed for ' || $2 || ' without a success' WHERE id = $1 AND enabled`,
					x.ID, d.retry.DisableAfter.String())
				if err != nil {
					return err
				}
				if tag.RowsAffected() > 0 {
					if err := outbox.Append(ctx, tx, event(x.OrgID, "", "integrations.integration.disable", x.ID,
						map[string]any{"reason": "repeated delivery failures", "failing_since": since.UTC().Format(time.RFC3339)})); err != nil {
						return err
					}
				}
				disabled = true
			}
		}
		if disabled {
			status, next = StatusFailed, nil
			errText += "; the integration is disabled"
		}
		var err error
		out, err = scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries SET status = $2, attempts = attempts + 1, response_status = $3,
			latency_ms = $4, response_snippet = $5, error = $6, last_attempt_at = now(), next_attempt_at = $7
			WHERE id = $1 AND status IN ('PENDING', 'RETRYING') RETURNING `+deliveryCols,
			dl.ID, status, a.status, a.latency.Milliseconds(), snippet, errText, next))
		if errors.Is(err, pgx.ErrNoRows) {
			out = nil // already final: a duplicate run changes nothing
			return nil
		}
		if err != nil || status != StatusSucceeded {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE integrations SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, x.ID)
		return err
	})
	return out, mapErr(err)
}

// backoff is the wait before attempt n+1: the schedule's step, give or take
// a fifth, so that retries to one endpoint do not come in waves. The jitter
// derives from the delivery and the attempt, so the time the log shows is
// the time River uses.
func (d *Deliveries) backoff(deliveryID string, n int) time.Duration {
	s := d.retry.Schedule
	if len(s) == 0 {
		return time.Second
	}
	step := s[min(max(n-1, 0), len(s)-1)]
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", deliveryID, n)
	return step - step/5 + time.Duration(h.Sum64()%uint64(step*2/5+1))
}

type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	d *Deliveries
}

// Timeout bounds a job beyond one attempt's own timeout.
func (w *deliverWorker) Timeout(*river.Job[deliverArgs]) time.Duration {
	return w.d.timeout + 20*time.Second
}

// NextRetry follows the retry schedule.
func (w *deliverWorker) NextRetry(job *river.Job[deliverArgs]) time.Time {
	return time.Now().Add(w.d.backoff(job.Args.DeliveryID, job.Attempt))
}

// Work makes one attempt of a delivery.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	d := w.d
	var dl *Delivery
	var x *Integration
	err := postgres.InOrg(ctx, d.db, job.Args.OrgID, func(tx pgx.Tx) error {
		var err error
		if dl, err = scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = $1`, job.Args.DeliveryID)); err != nil {
			return err
		}
		x, err = scanIntegration(tx.QueryRow(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = $1`, dl.IntegrationID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(errors.New("the delivery or its integration is gone"))
	}
	if err != nil {
		return err
	}
	if dl.Status == StatusSucceeded || dl.Status == StatusFailed {
		return nil
	}
	bg := context.WithoutCancel(ctx)
	if !x.Enabled {
		_, err := d.record(bg, x, dl, attempt{err: ErrDisabled}, true)
		return errors.Join(err, river.JobCancel(ErrDisabled))
	}
	a := d.send(ctx, x, dl)
	if ctx.Err() != nil && !a.ok() {
		// The process is stopping: not the endpoint's fault, and not an
		// attempt; the delivery runs again after the restart.
		return river.JobSnooze(time.Second)
	}
	out, err := d.record(bg, x, dl, a, job.Attempt >= job.MaxAttempts)
	switch {
	case err != nil:
		return err
	case out == nil || out.Status == StatusSucceeded:
		return nil
	case out.Status == StatusFailed:
		return river.JobCancel(errors.New(out.Err))
	}
	return errors.New(out.Err)
}

// sweep fails the deliveries whose job ended without a final status (lost
// with a crashed process, or a database error on the last attempt), so
// that the log never shows a delivery pending forever.
func (d *Deliveries) sweep(ctx context.Context) (int, error) {
	var n int64
	err := postgres.InOrg(ctx, d.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries dl SET status = 'FAILED', next_attempt_at = NULL,
			error = 'the delivery ended without a result' WHERE dl.status IN ('PENDING', 'RETRYING')
			AND coalesce(dl.last_attempt_at, dl.created_at) < now() - $1::interval
			AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'pythorix.delivery' AND j.args->>'delivery_id' = dl.id::text
				AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))`,
			(2*(d.timeout+20*time.Second) + time.Minute).String())
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		// Retention: event ids are kept for deduplication a month, the
		// delivery log three months.
		if _, err := tx.Exec(ctx, `DELETE FROM events WHERE created_at < now() - interval '30 days'`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM deliveries WHERE created_at < now() - interval '90 days' AND status IN ('SUCCEEDED', 'FAILED')`)
		return err
	})
	return int(n), err
}

// List pages through an integration's deliveries, newest first.
func (d *Deliveries) List(ctx context.Context, orgID, integrationID, status, token string, size int) ([]*Delivery, string, error) {
	if _, err := d.store.Get(ctx, orgID, integrationID); err != nil {
		return nil, "", err
	}
	before, err := page.After(token)
	if err != nil {
		return nil, "", err
	}
	size = page.Size(size)
	var list []*Delivery
	err = postgres.InOrg(ctx, d.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE org_id = $1 AND integration_id = $2
			AND ($3 = '' OR status = $3) AND id < $4::uuid ORDER BY id DESC LIMIT $5`, orgID, integrationID, status, before, size+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Delivery, error) { return scanDelivery(r) })
		return err
	})
	if err != nil {
		return nil, "", mapErr(err)
	}
	list, next := page.Trim(list, size, func(x *Delivery) string { return x.ID })
	return list, next, nil
}
