package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// versioned names the tables of a resource that has versions and
// publications (agents, personas), so that numbering, publishing and
// rolling back are written once. The names are constants, never input.
type versioned struct {
	noun     string // for messages: "agent"
	table    string // the drafts: "agents"
	versions string // "agent_versions"
	pubs     string // "agent_publications"
	owner    string // the versions' and publications' column naming the draft: "agent_id"
}

var (
	agentTables   = versioned{"agent", "agents", "agent_versions", "agent_publications", "agent_id"}
	personaTables = versioned{"persona", "personas", "persona_versions", "persona_publications", "persona_id"}
)

// validateNote checks a version's note. The interfaces do not list EINVALID
// for it, but the store must not keep notes of any size.
func validateNote(note string) error {
	var v hyponema.Validation
	switch {
	case !utf8.ValidString(note):
		v.Add("invalid", "must be valid UTF-8", "note")
	case strings.ContainsRune(note, 0):
		v.Add("invalid", "must not contain NUL characters", "note")
	case utf8.RuneCountInString(note) > hyponema.MaxNoteLen:
		v.Add("too_long", fmt.Sprintf("must be at most %d characters", hyponema.MaxNoteLen), "note")
	}
	return v.Err()
}

// nextVersionNumber returns the number of the owner's next version. The
// caller holds the owner's row lock (or, on SQLite, the write lock), so no
// other transaction can take the same number.
func nextVersionNumber(ctx context.Context, tx conn, k versioned, ownerID string) (int, error) {
	var n int
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM `+k.versions+` WHERE `+k.owner+` = ?`,
		ownerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: next %s version number: %w", k.noun, err)
	}
	return n, nil
}

// publish makes versionID live for the owner, whose row the caller holds
// locked and whose live version is live. A version that is live already
// stays as it is, with no new publication.
func publish(ctx context.Context, tx conn, k versioned, ownerID, live, versionID string, t time.Time) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM `+k.versions+` WHERE id = ? AND `+k.owner+` = ?`, versionID, ownerID).Scan(&one)
	if isNoRows(err) {
		var v hyponema.Validation
		v.Add("invalid", fmt.Sprintf("is not a version of this %s", k.noun), "version_id")
		return v.Err()
	} else if err != nil {
		return fmt.Errorf("store: find %s version: %w", k.noun, err)
	}
	if versionID == live {
		return nil
	}
	at := tx.db.d.timeArg(t)
	if _, err := tx.exec(ctx, `INSERT INTO `+k.pubs+` (`+k.owner+`, version_id, published_at) VALUES (?, ?, ?)`,
		ownerID, versionID, at); err != nil {
		return fmt.Errorf("store: insert %s publication: %w", k.noun, err)
	}
	if _, err := tx.exec(ctx, `UPDATE `+k.table+` SET published_version_id = ?, updated_at = ? WHERE id = ?`,
		versionID, at, ownerID); err != nil {
		return fmt.Errorf("store: publish %s version: %w", k.noun, err)
	}
	return nil
}

// rollback marks the live publication rolled back and makes the one before
// it live. The caller holds the owner's row locked.
func rollback(ctx context.Context, tx conn, k versioned, ownerID string, t time.Time) error {
	rows, err := tx.query(ctx, `SELECT id, version_id FROM `+k.pubs+`
		WHERE `+k.owner+` = ? AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 2`, ownerID)
	if err != nil {
		return fmt.Errorf("store: read %s publications: %w", k.noun, err)
	}
	type pub struct {
		id      int64
		version string
	}
	var pubs []pub
	for rows.Next() {
		var p pub
		if err := rows.Scan(&p.id, &p.version); err != nil {
			rows.Close()
			return fmt.Errorf("store: read %s publications: %w", k.noun, err)
		}
		pubs = append(pubs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read %s publications: %w", k.noun, err)
	}
	if len(pubs) < 2 {
		return hyponema.Errorf(hyponema.ECONFLICT, "no earlier published version to roll back to")
	}
	at := tx.db.d.timeArg(t)
	if _, err := tx.exec(ctx, `UPDATE `+k.pubs+` SET rolled_back_at = ? WHERE id = ?`, at, pubs[0].id); err != nil {
		return fmt.Errorf("store: roll back %s publication: %w", k.noun, err)
	}
	if _, err := tx.exec(ctx, `UPDATE `+k.table+` SET published_version_id = ?, updated_at = ? WHERE id = ?`,
		pubs[1].version, at, ownerID); err != nil {
		return fmt.Errorf("store: roll back %s: %w", k.noun, err)
	}
	return nil
}
