package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
)

// Event is one entry of a chain, exactly as hashed and stored.
type Event struct {
	Chain        string
	Seq          int64
	ID, OrgID    string
	Time         time.Time // UTC, microsecond precision (Postgres's)
	ActorType    string
	ActorID      string
	Action       string
	ResourceType string
	ResourceID   string
	Outcome      string
	SourceIP     string
	UserAgent    string
	RequestID    string
	TraceID      string
	Details      string // canonical JSON
	PrevHash     []byte
	Hash         []byte
	AppendTime   time.Time
}

// PlatformChain holds events of no organisation.
const PlatformChain = "platform"

// ChainOf names the chain an organisation's events go to.
func ChainOf(orgID string) string {
	if orgID == "" {
		return PlatformChain
	}
	return "org:" + orgID
}

// ZeroHash is the prev_hash of a chain's first event.
var ZeroHash = make([]byte, sha256.Size)

// TimeFormat is how time enters the hash.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// hashDomain separates this hash from any other use of SHA-256.
const hashDomain = "pythorix-audit-v1\n"

// ComputeHash is the chain's hash function:
//
//	SHA-256( "pythorix-audit-v1\n" || prev_hash (32 bytes) ||
//	         enc(chain) || enc(seq) || enc(id) || enc(org_id) || enc(time) ||
//	         enc(actor_type) || enc(actor_id) || enc(action) || enc(resource_type) ||
//	         enc(resource_id) || enc(outcome) || enc(source_ip) || enc(user_agent) ||
//	         enc(request_id) || enc(trace_id) || enc(details) )
//
// where enc(s) is the 4-byte big-endian length of s followed by its UTF-8
// bytes, seq is written in decimal, time as TimeFormat in UTC, and details
// as canonical JSON (object keys sorted, no insignificant space). Anyone can
// recompute it from an export: the verify command does.
func ComputeHash(prev []byte, e *Event) []byte {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(prev)
	for _, s := range []string{e.Chain, strconv.FormatInt(e.Seq, 10), e.ID, e.OrgID, e.Time.UTC().Format(TimeFormat),
		e.ActorType, e.ActorID, e.Action, e.ResourceType, e.ResourceID, e.Outcome, e.SourceIP, e.UserAgent,
		e.RequestID, e.TraceID, e.Details} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// secretKey matches detail keys whose values must never be stored.
var secretKey = regexp.MustCompile(`(?i)(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|private)`)

// canonicalDetails renders details as canonical JSON with secret-looking
// keys redacted at any depth.
func canonicalDetails(s *structpb.Struct) string {
	if s == nil {
		return "{}"
	}
	b, err := json.Marshal(redact(s.AsMap()))
	if err != nil {
		return "{}"
	}
	return string(b)
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if secretKey.MatchString(k) {
				out[k] = "[REDACTED]"
				continue
			}
			out[k] = redact(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redact(val)
		}
		return out
	}
	return v
}

// fromInput turns an ingested event into a chain entry (seq and hashes are
// assigned when appended).
func fromInput(in *auditv1.EventInput) *Event {
	t := in.GetTime().AsTime().UTC().Truncate(time.Microsecond)
	return &Event{
		Chain: ChainOf(in.GetOrgId()), ID: in.GetId(), OrgID: in.GetOrgId(), Time: t,
		ActorType: in.GetActor().GetType().String(), ActorID: in.GetActor().GetId(), Action: in.GetAction(),
		ResourceType: in.GetResourceType(), ResourceID: in.GetResourceId(), Outcome: in.GetOutcome().String(),
		SourceIP: in.GetSourceIp(), UserAgent: in.GetUserAgent(), RequestID: in.GetRequestId(), TraceID: in.GetTraceId(),
		Details: canonicalDetails(in.GetDetails()),
	}
}
