package scanning

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	scanningv1 "github.com/pythorix/pythorix/gen/go/pythorix/scanning/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/services/scanning/catalog"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/report"
)

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func scanProto(x *Scan) *scanningv1.Scan {
	return &scanningv1.Scan{Id: x.ID, OrgId: x.OrgID, AssetId: x.AssetID,
		Status: scanningv1.ScanStatus(scanningv1.ScanStatus_value["SCAN_STATUS_"+x.Status]),
		Grade:  x.Grade, Score: int32(x.Score), Progress: int32(x.Progress), ActorId: x.ActorID, GrantId: x.GrantID, Error: x.Err,
		CreateTime: timestamppb.New(x.CreatedAt), StartTime: ts(x.StartedAt), EndTime: ts(x.EndedAt),
		UpdateTime: timestamppb.New(x.UpdatedAt), Requests: int32(x.Requests), ApiKeyId: x.APIKeyID, Target: x.Target}
}

func findingProto(f *Finding) *scanningv1.Finding {
	out := &scanningv1.Finding{Id: f.ID, ScanId: f.ScanID, AssetId: f.AssetID, CheckId: f.CheckID, Title: f.CheckID,
		Severity: scanningv1.Severity(f.Severity), Status: scanningv1.FindingStatus(scanningv1.FindingStatus_value["FINDING_STATUS_"+f.Status]),
		Evidence: f.Evidence, Fingerprint: f.Fingerprint, FirstSeenTime: timestamppb.New(f.FirstSeen),
		LastSeenTime: timestamppb.New(f.LastSeen), Location: f.Location, Subject: f.Subject, Detail: f.Detail}
	if c, ok := catalog.Lookup(f.CheckID); ok {
		out.Title, out.Cwe, out.Description, out.Remediation, out.References = c.Title, c.CWE, c.Description, c.Remediation, c.References
		for _, r := range c.Compliance {
			out.Compliance = append(out.Compliance, &scanningv1.ComplianceRef{Framework: r.Framework, Control: r.Control})
		}
	}
	return out
}

// checkTitle is a check's title, or its id when the catalog lacks it.
func checkTitle(id string) string {
	if c, ok := catalog.Lookup(id); ok {
		return c.Title
	}
	return id
}

func catalogSeverity(id string) (finding.Severity, bool) {
	c, ok := catalog.Lookup(id)
	return c.Severity, ok
}

// actorOf is who the request acts for: the user, through an API key when one is used.
func actorOf(ctx context.Context) Actor {
	p := authn.PrincipalFrom(ctx)
	return Actor{UserID: p.GetUserId(), APIKeyID: p.GetApiKeyId(), KeyProject: p.GetProjectId()}
}

// CreateScan implements the RPC.
func (s *Service) CreateScan(ctx context.Context, r *scanningv1.CreateScanRequest) (*scanningv1.CreateScanResponse, error) {
	x, err := s.scans.Create(ctx, actorOf(ctx), authn.OrgFrom(ctx), r.GetAssetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.CreateScanResponse{Scan: scanProto(x)}, nil
}

// GetScan implements the RPC.
func (s *Service) GetScan(ctx context.Context, r *scanningv1.GetScanRequest) (*scanningv1.GetScanResponse, error) {
	x, err := s.scans.Get(ctx, authn.OrgFrom(ctx), r.GetId(), keyProject(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.GetScanResponse{Scan: scanProto(x)}, nil
}

// ListScans implements the RPC.
func (s *Service) ListScans(ctx context.Context, r *scanningv1.ListScansRequest) (*scanningv1.ListScansResponse, error) {
	f := ScanFilter{AssetID: r.GetAssetId(), ProjectID: keyProject(ctx), After: r.GetPageToken(), Limit: int(r.GetPageSize())}
	if r.GetStatus() != scanningv1.ScanStatus_SCAN_STATUS_UNSPECIFIED {
		f.Status = enumName(r.GetStatus().String(), "SCAN_STATUS_")
	}
	list, next, err := s.scans.List(ctx, authn.OrgFrom(ctx), f)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &scanningv1.ListScansResponse{NextPageToken: next}
	for _, x := range list {
		out.Scans = append(out.Scans, scanProto(x))
	}
	return out, nil
}

// CancelScan implements the RPC.
func (s *Service) CancelScan(ctx context.Context, r *scanningv1.CancelScanRequest) (*scanningv1.CancelScanResponse, error) {
	x, err := s.scans.Cancel(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId(), keyProject(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &scanningv1.CancelScanResponse{Scan: scanProto(x)}, nil
}

func findingFilter(ctx context.Context, sev []scanningv1.Severity, st []scanningv1.FindingStatus, assetID, tok string, size int32) FindingFilter {
	f := FindingFilter{AssetID: assetID, ProjectID: keyProject(ctx), After: tok, Limit: int(size)}
	for _, v := range sev {
		f.Severities = append(f.Severities, enumName(v.String(), "SEVERITY_"))
	}
	for _, v := range st {
		f.Statuses = append(f.Statuses, enumName(v.String(), "FINDING_STATUS_"))
	}
	return f
}

// ListScanFindings implements the RPC.
func (s *Service) ListScanFindings(ctx context.Context, r *scanningv1.ListScanFindingsRequest) (*scanningv1.ListScanFindingsResponse, error) {
	f := findingFilter(ctx, r.GetSeverity(), r.GetStatus(), r.GetAssetId(), r.GetPageToken(), r.GetPageSize())
	list, next, err := s.scans.ScanFindings(ctx, authn.OrgFrom(ctx), r.GetId(), keyProject(ctx), f)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &scanningv1.ListScanFindingsResponse{NextPageToken: next}
	for _, x := range list {
		out.Findings = append(out.Findings, findingProto(x))
	}
	return out, nil
}

// ListFindings implements the RPC.
func (s *Service) ListFindings(ctx context.Context, r *scanningv1.ListFindingsRequest) (*scanningv1.ListFindingsResponse, error) {
	f := findingFilter(ctx, r.GetSeverity(), r.GetStatus(), r.GetAssetId(), r.GetPageToken(), r.GetPageSize())
	list, next, err := s.scans.Findings(ctx, authn.OrgFrom(ctx), f)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &scanningv1.ListFindingsResponse{NextPageToken: next}
	for _, x := range list {
		out.Findings = append(out.Findings, findingProto(x))
	}
	return out, nil
}

// ReportCSPHeader is response metadata the gateway turns into the
// Content-Security-Policy of an HTML report (its stylesheet's hash).
const ReportCSPHeader = "x-pythorix-content-security-policy"

// GetScanReport implements the RPC: a finished scan as JSON, SARIF or HTML.
func (s *Service) GetScanReport(ctx context.Context, r *scanningv1.GetScanReportRequest) (*httpbody.HttpBody, error) {
	rs, err := s.scans.Report(ctx, authn.OrgFrom(ctx), r.GetId(), keyProject(ctx))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	var body []byte
	var ctype string
	switch r.GetFormat() {
	case scanningv1.ReportFormat_REPORT_FORMAT_SARIF:
		body, err = report.SARIF(*rs)
		ctype = report.ContentTypeSARIF
	case scanningv1.ReportFormat_REPORT_FORMAT_HTML:
		body, err = report.HTML(*rs)
		ctype = report.ContentTypeHTML
		_ = grpc.SetHeader(ctx, metadata.Pairs(ReportCSPHeader, report.StyleCSP))
	default:
		body, err = report.JSON(*rs)
		ctype = report.ContentTypeJSON
	}
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &httpbody.HttpBody{ContentType: ctype, Data: body}, nil
}
