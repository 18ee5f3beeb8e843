package roles

import (
	"slices"
	"strings"
)

// Role is an organisation role, ordered by rank.
type Role int

// Roles, lowest first. The numeric order is the rank used to stop anyone
// granting a role above their own.
const (
	None Role = iota
	Viewer
	Developer
	Security
	Admin
	Owner
)

var names = map[Role]string{Viewer: "viewer", Developer: "developer", Security: "security", Admin: "admin", Owner: "owner"}

// String is the role's lower-case name.
func (r Role) String() string {
	if n, ok := names[r]; ok {
		return n
	}
	return "none"
}

// Parse reads a role name (case-insensitive, with or without "ROLE_").
func Parse(s string) Role {
	s = strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "ROLE_"))
	for r, n := range names {
		if n == s {
			return r
		}
	}
	return None
}

// Permissions every RPC may require (the vocabulary of the proto access options).
const (
	OrgsRead, OrgsWrite, OrgsDelete     = "orgs.read", "orgs.write", "orgs.delete"
	MembersRead, MembersWrite           = "members.read", "members.write"
	InvitationsRead, InvitationsWrite   = "invitations.read", "invitations.write"
	ProjectsRead, ProjectsWrite         = "projects.read", "projects.write"
	AssetsRead, AssetsWrite             = "assets.read", "assets.write"
	GrantsRead, GrantsWrite             = "grants.read", "grants.write"
	ScansRead, ScansWrite               = "scans.read", "scans.write"
	FindingsRead, ReportsRead           = "findings.read", "reports.read"
	AuditRead, AuditExport              = "audit.read", "audit.export"
	IntegrationsRead, IntegrationsWrite = "integrations.read", "integrations.write"
	APIKeysRead, APIKeysWrite           = "api_keys.read", "api_keys.write"
)

var reads = []string{OrgsRead, MembersRead, ProjectsRead, AssetsRead, GrantsRead, ScansRead, FindingsRead, ReportsRead}

// table is the whole policy. Global (platform) admins act as Admin in every
// organisation.
var table = map[Role][]string{
	Viewer:    reads,
	Developer: append(slices.Clone(reads), AssetsWrite, ScansWrite, IntegrationsRead, APIKeysRead, APIKeysWrite),
	Security: append(slices.Clone(reads), AssetsWrite, GrantsWrite, ScansWrite, InvitationsRead, AuditRead, AuditExport,
		IntegrationsRead, APIKeysRead, APIKeysWrite),
	Admin: append(slices.Clone(reads), OrgsWrite, MembersWrite, InvitationsRead, InvitationsWrite, ProjectsWrite, AssetsWrite,
		GrantsWrite, ScansWrite, AuditRead, AuditExport, IntegrationsRead, IntegrationsWrite, APIKeysRead, APIKeysWrite),
}

func init() {
	table[Owner] = append(slices.Clone(table[Admin]), OrgsDelete)
}

// All lists every permission.
func All() []string { return slices.Clone(table[Owner]) }

// Allows reports whether the role holds the permission.
func Allows(r Role, permission string) bool { return slices.Contains(table[r], permission) }

// Permissions lists the role's permissions.
func Permissions(r Role) []string { return slices.Clone(table[r]) }

// Ordered lists the roles from highest to lowest.
func Ordered() []Role { return []Role{Owner, Admin, Security, Developer, Viewer} }
