package scanning

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
)

// Event types scanning publishes to integrations.
const (
	EventScanCompleted  = "scan.completed"
	EventFindingCreated = "finding.created"
	EventGradeChanged   = "grade.changed"
)

// maxFindingEvents bounds the finding.created events of one scan; the
// scan.completed event carries the counts.
const maxFindingEvents = 100

// outEvent is one event for integrations; its id is fixed when the job is
// queued, so a retried job publishes the same events (PublishEvent drops a
// repeated id).
type outEvent struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Payload map[string]any `json:"payload"`
}

// publishArgs is a job that hands a finished scan's events to the
// integrations service. It is queued in the transaction that stores the
// scan's result, so an event is never lost and never made up.
type publishArgs struct {
	OrgID  string     `json:"org_id"`
	Events []outEvent `json:"events"`
}

// Kind implements river.JobArgs.
func (publishArgs) Kind() string { return "pythorix.scan.publish" }

const eventQueue = "events"

func newEvent(typ string, payload map[string]any) outEvent {
	return outEvent{ID: uuid.NewString(), Type: typ, Payload: payload}
}

// publishWorker delivers events to the integrations service.
type publishWorker struct {
	river.WorkerDefaults[publishArgs]
	client integrationsv1.IntegrationsServiceClient
}

// Work publishes every event of the job; a failure retries them all (the
// ones already taken are dropped as repeats).
func (w *publishWorker) Work(ctx context.Context, job *river.Job[publishArgs]) error {
	for _, ev := range job.Args.Events {
		p, err := structpb.NewStruct(ev.Payload)
		if err != nil {
			return river.JobCancel(fmt.Errorf("event %s: %w", ev.Type, err))
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = w.client.PublishEvent(cctx, &integrationsv1.PublishEventRequest{OrgId: job.Args.OrgID, EventType: ev.Type,
			EventId: ev.ID, Payload: p})
		cancel()
		if err != nil {
			return fmt.Errorf("publish %s: %w", ev.Type, err)
		}
	}
	return nil
}

// queueEvents queues a scan's events in tx (nothing when publishing is off).
func (q *Queue) queueEvents(ctx context.Context, tx pgx.Tx, orgID string, events []outEvent) error {
	if q == nil || !q.publishing || len(events) == 0 {
		return nil
	}
	_, err := q.client.InsertTx(ctx, tx, publishArgs{OrgID: orgID, Events: events},
		&river.InsertOpts{Queue: eventQueue, MaxAttempts: 25})
	if err != nil {
		return fmt.Errorf("river: insert: %w", err)
	}
	return nil
}

// dialIntegrations connects to the integrations service.
func dialIntegrations(dial func(service, addr string) (*grpc.ClientConn, error), addr string) (integrationsv1.IntegrationsServiceClient, error) {
	conn, err := dial("integrations", addr)
	if err != nil {
		return nil, err
	}
	return integrationsv1.NewIntegrationsServiceClient(conn), nil
}
