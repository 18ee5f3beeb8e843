package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/platform/server"
)

// Service implements auditv1.AuditServiceServer.
type Service struct {
	auditv1.UnimplementedAuditServiceServer
	store       *Store
	log         *slog.Logger
	signer      note.Signer
	verifierKey string
}

var _ auditv1.AuditServiceServer = (*Service)(nil)

// Options wire audit into the shared server; PYTHORIX_AUDIT_SIGNING_KEY is
// the note signer key (`pythorix-audit-verify -keygen NAME` makes one).
func Options(config.Service) (server.Options, error) {
	key := os.Getenv("PYTHORIX_AUDIT_SIGNING_KEY")
	if key == "" {
		return server.Options{}, errors.New("audit config: PYTHORIX_AUDIT_SIGNING_KEY is required (make run generates one)")
	}
	return ServerOptions(secret.New(key))
}

// ServerOptions wire audit with an explicit signing key (tests).
func ServerOptions(signingKey secret.String) (server.Options, error) {
	signer, err := note.NewSigner(signingKey.Reveal())
	if err != nil {
		return server.Options{}, errors.New("audit config: PYTHORIX_AUDIT_SIGNING_KEY is not a note signer key")
	}
	verifier, err := verifierOf(signingKey.Reveal())
	if err != nil {
		return server.Options{}, err
	}
	svc := &Service{signer: signer, verifierKey: verifier}
	return server.Options{
		Migrations: Migrations(),
		// Audit's own outbox goes straight into its store.
		LocalAudit: func(ctx context.Context, in *auditv1.AppendEventsRequest) (*auditv1.AppendEventsResponse, error) {
			return svc.AppendEvents(ctx, in)
		},
		Background: []func(context.Context) error{func(ctx context.Context) error {
			t := time.NewTicker(checkpointInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
				if n, err := svc.store.SignHeads(ctx, svc.signer); err != nil && ctx.Err() == nil {
					svc.log.ErrorContext(ctx, "signing chain heads failed", "error", err)
				} else if n > 0 {
					svc.log.InfoContext(ctx, "signed chain heads", "chains", n)
				}
			}
		}},
		Register: func(reg grpc.ServiceRegistrar, deps server.Deps) error {
			svc.store, svc.log = NewStore(deps.DB), deps.Logger
			auditv1.RegisterAuditServiceServer(reg, svc)
			return nil
		},
	}, nil
}

func (s *Service) internal(ctx context.Context, err error) error {
	return server.StatusOf(ctx, s.log, err, nil)
}

// AppendEvents implements the internal ingestion RPC.
func (s *Service) AppendEvents(ctx context.Context, r *auditv1.AppendEventsRequest) (*auditv1.AppendEventsResponse, error) {
	n, dup, err := s.store.Append(ctx, r.GetEvents())
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &auditv1.AppendEventsResponse{AppendedCount: int32(n), DuplicateCount: int32(dup)}, nil
}

// EventProto renders an event for the API.
func EventProto(e *Event) *auditv1.Event {
	out := &auditv1.Event{Id: e.ID, OrgId: e.OrgID, Seq: e.Seq, Time: timestamppb.New(e.Time), Action: e.Action,
		Actor:        &auditv1.Actor{Type: auditv1.ActorType(auditv1.ActorType_value[e.ActorType]), Id: e.ActorID},
		ResourceType: e.ResourceType, ResourceId: e.ResourceID, Outcome: auditv1.Outcome(auditv1.Outcome_value[e.Outcome]),
		SourceIp: e.SourceIP, UserAgent: e.UserAgent, RequestId: e.RequestID, TraceId: e.TraceID,
		PrevHash: HexHash(e.PrevHash), Hash: HexHash(e.Hash), AppendTime: timestamppb.New(e.AppendTime)}
	var m map[string]any
	if json.Unmarshal([]byte(e.Details), &m) == nil {
		out.Details, _ = structpb.NewStruct(m)
	}
	return out
}

// ListEvents implements the RPC: the active organisation's chain, in sequence order.
func (s *Service) ListEvents(ctx context.Context, r *auditv1.ListEventsRequest) (*auditv1.ListEventsResponse, error) {
	org := authn.OrgFrom(ctx)
	f := Filter{Chain: ChainOf(org), ActorID: r.GetActorId(), Action: r.GetAction(), ResourceType: r.GetResourceType(),
		ResourceID: r.GetResourceId(), Limit: int(r.GetPageSize())}
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 50
	}
	if r.StartTime != nil {
		f.Start = r.GetStartTime().AsTime()
	}
	if r.EndTime != nil {
		f.End = r.GetEndTime().AsTime()
	}
	if tok := r.GetPageToken(); tok != "" {
		seq, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || seq < 0 {
			return nil, server.FieldError("pageToken", "is not a token this API issued")
		}
		f.AfterSeq = seq
	}
	events, err := s.store.List(ctx, org, f)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := &auditv1.ListEventsResponse{}
	for _, e := range events {
		out.Events = append(out.Events, EventProto(e))
	}
	if len(events) == f.Limit {
		out.NextPageToken = strconv.FormatInt(events[len(events)-1].Seq, 10)
	}
	return out, nil
}

// VerifyChain implements the RPC for the active organisation's chain.
func (s *Service) VerifyChain(ctx context.Context, r *auditv1.VerifyChainRequest) (*auditv1.VerifyChainResponse, error) {
	org := authn.OrgFrom(ctx)
	v, err := s.store.Verify(ctx, org, ChainOf(org), r.GetFromSeq(), r.GetToSeq())
	if errors.Is(err, ErrFromBeyondHead) {
		return nil, server.FieldError("fromSeq", "is beyond the head of the chain")
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := &auditv1.VerifyChainResponse{Ok: v.OK, VerifiedCount: v.Count, HeadHash: HexHash(v.Head), Reason: v.Reason}
	if !v.OK {
		out.FirstBrokenSeq = &v.BrokenSeq
	}
	return out, nil
}

// ExportLine is one line of a JSON Lines export: every field that enters the
// hash, so the verify command can recompute the chain offline.
type ExportLine struct {
	Chain        string `json:"chain"`
	Seq          int64  `json:"seq"`
	ID           string `json:"id"`
	OrgID        string `json:"orgId"`
	Time         string `json:"time"`
	ActorType    string `json:"actorType"`
	ActorID      string `json:"actorId"`
	Action       string `json:"action"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Outcome      string `json:"outcome"`
	SourceIP     string `json:"sourceIp"`
	UserAgent    string `json:"userAgent"`
	RequestID    string `json:"requestId"`
	TraceID      string `json:"traceId"`
	Details      string `json:"details"`
	PrevHash     string `json:"prevHash"`
	Hash         string `json:"hash"`
}

// Line renders an event as an export line.
func Line(e *Event) ExportLine {
	return ExportLine{Chain: e.Chain, Seq: e.Seq, ID: e.ID, OrgID: e.OrgID, Time: e.Time.UTC().Format(TimeFormat),
		ActorType: e.ActorType, ActorID: e.ActorID, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
		Outcome: e.Outcome, SourceIP: e.SourceIP, UserAgent: e.UserAgent, RequestID: e.RequestID, TraceID: e.TraceID,
		Details: e.Details, PrevHash: HexHash(e.PrevHash), Hash: HexHash(e.Hash)}
}

// ExportEvents streams the active organisation's chain as JSON Lines.
func (s *Service) ExportEvents(r *auditv1.ExportEventsRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	ctx := stream.Context()
	org := authn.OrgFrom(ctx)
	after := r.GetFromSeq() - 1
	if after < 0 {
		after = 0
	}
	for {
		events, err := s.store.List(ctx, org, Filter{Chain: ChainOf(org), AfterSeq: after, Limit: 500})
		if err != nil {
			return s.internal(ctx, err)
		}
		var buf []byte
		for _, e := range events {
			if r.ToSeq != nil && e.Seq > r.GetToSeq() {
				break
			}
			b, _ := json.Marshal(Line(e))
			buf = append(append(buf, b...), '\n')
			after = e.Seq
		}
		if len(buf) > 0 {
			if err := stream.Send(&httpbody.HttpBody{ContentType: "application/x-ndjson", Data: buf}); err != nil {
				return err
			}
		}
		if len(events) < 500 || (r.ToSeq != nil && after >= r.GetToSeq()) {
			return nil
		}
	}
}

// checkpointInterval is how often new chain heads are signed.
const checkpointInterval = time.Minute

// verifierOf derives the public verifier key from a note signer key
// ("PRIVATE+KEY+<name>+<hash>+<key>").
func verifierOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("audit config: PYTHORIX_AUDIT_SIGNING_KEY is not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("audit config: PYTHORIX_AUDIT_SIGNING_KEY is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// GetCheckpoint implements the RPC: the active organisation's signed tree head.
func (s *Service) GetCheckpoint(ctx context.Context, _ *auditv1.GetCheckpointRequest) (*auditv1.GetCheckpointResponse, error) {
	org := authn.OrgFrom(ctx)
	cp, err := s.store.Checkpoint(ctx, org, ChainOf(org), s.signer)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &auditv1.GetCheckpointResponse{Note: cp.Note, Size: cp.Size, RootHash: hex.EncodeToString(cp.Root[:]),
		KeyName: s.signer.Name(), VerifierKey: s.verifierKey, CreateTime: timestamppb.Now()}, nil
}

// GetInclusionProof implements the RPC.
func (s *Service) GetInclusionProof(ctx context.Context, r *auditv1.GetInclusionProofRequest) (*auditv1.GetInclusionProofResponse, error) {
	org := authn.OrgFrom(ctx)
	p, err := s.store.Prove(ctx, org, ChainOf(org), r.GetSeq(), r.GetTreeSize())
	if errors.Is(err, ErrOutOfRange) {
		return nil, status.Error(codes.NotFound, "no such entry in this chain")
	}
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := &auditv1.GetInclusionProofResponse{Seq: p.Seq, LeafIndex: p.Seq - 1, TreeSize: p.TreeSize,
		LeafHash: hex.EncodeToString(p.Leaf[:]), RootHash: hex.EncodeToString(p.Root[:])}
	for _, h := range p.Hashes {
		out.Hashes = append(out.Hashes, hex.EncodeToString(h[:]))
	}
	return out, nil
}
