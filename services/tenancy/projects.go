package tenancy

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
)

// Project groups an organisation's work; its allowed origins drive CORS for
// its API keys.
type Project struct {
	ID, OrgID, Name, Description string
	AllowedOrigins               []string
	CreatedAt, UpdatedAt         time.Time
}

const projectCols = `id::text, org_id::text, name, description, allowed_origins, created_at, updated_at`

func scanProject(r pgx.Row) (*Project, error) {
	p := &Project{}
	err := r.Scan(&p.ID, &p.OrgID, &p.Name, &p.Description, &p.AllowedOrigins, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// CreateProject adds a project to the organisation.
func (t *Tenancy) CreateProject(ctx context.Context, actor, orgID, name, description string, origins []string) (*Project, error) {
	if origins == nil {
		origins = []string{}
	}
	var p *Project
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM projects WHERE org_id = $1`, orgID).Scan(&n); err != nil {
			return err
		}
		if n >= maxProjectsPerOrg {
			return ErrTooManyProjects
		}
		var err error
		p, err = scanProject(tx.QueryRow(ctx, `INSERT INTO projects (id, org_id, name, description, allowed_origins)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+projectCols, newID(), orgID, name, description, origins))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.project.create", "project", p.ID, map[string]any{"name": name}))
	})
	return p, err
}

// GetProject returns a project of the organisation; another org's is not found.
func (t *Tenancy) GetProject(ctx context.Context, orgID, id string) (*Project, error) {
	var p *Project
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRow(ctx, `SELECT `+projectCols+` FROM projects WHERE id = $1 AND org_id = $2`, id, orgID))
		return err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return p, nil
}

// ListProjects lists the organisation's projects, newest first.
func (t *Tenancy) ListProjects(ctx context.Context, orgID string, pageSize int, after string) ([]*Project, string, error) {
	pageSize = page.Size(pageSize)
	after, err := page.After(after)
	if err != nil {
		return nil, "", err
	}
	var list []*Project
	err = postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+projectCols+` FROM projects WHERE org_id = $1 AND id::text < $2
			ORDER BY id DESC LIMIT $3`, orgID, after, pageSize+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Project, error) { return scanProject(r) })
		return err
	})
	if err != nil {
		return nil, "", err
	}
	list, next := page.Trim(list, pageSize, func(x *Project) string { return x.ID })
	return list, next, nil
}

// ProjectUpdate holds the fields to change; nil leaves a field alone.
type ProjectUpdate struct {
	Name, Description *string
	Origins           []string
	ClearOrigins      bool
}

// UpdateProject changes a project of the organisation.
func (t *Tenancy) UpdateProject(ctx context.Context, actor, orgID, id string, u ProjectUpdate) (*Project, error) {
	var p *Project
	err := postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		var origins any
		switch {
		case u.ClearOrigins:
			origins = []string{}
		case len(u.Origins) > 0:
			origins = u.Origins
		}
		var err error
		p, err = scanProject(tx.QueryRow(ctx, `UPDATE projects SET name = coalesce($3, name), description = coalesce($4, description),
			allowed_origins = coalesce($5::text[], allowed_origins), updated_at = now()
			WHERE id = $1 AND org_id = $2 RETURNING `+projectCols, id, orgID, u.Name, u.Description, origins))
		if err != nil {
			return mapErr(err)
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.project.update", "project", id, nil))
	})
	return p, err
}

// DeleteProject removes a project of the organisation.
func (t *Tenancy) DeleteProject(ctx context.Context, actor, orgID, id string) error {
	return mapErr(postgres.InOrg(ctx, t.db, orgID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM projects WHERE id = $1 AND org_id = $2`, id, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "tenancy.project.delete", "project", id, nil))
	}))
}

// ProjectOrigins returns a project's organisation and allowed origins (for CORS).
func (t *Tenancy) ProjectOrigins(ctx context.Context, id string) (string, []string, error) {
	var org string
	var origins []string
	// The project id is what names the organisation here.
	err := postgres.InOrg(ctx, t.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT org_id::text, allowed_origins FROM projects WHERE id = $1`, id).Scan(&org, &origins)
	})
	return org, origins, mapErr(err)
}

// OriginAllowed reports whether any project, of any organisation, lists an
// origin: what a CORS preflight (no credential, so no project) may know.
func (t *Tenancy) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	var ok bool
	err := postgres.InOrg(ctx, t.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projects WHERE allowed_origins @> ARRAY[$1::text])`, origin).Scan(&ok)
	})
	return ok, err
}
