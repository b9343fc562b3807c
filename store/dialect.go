package store

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect names, as (*DB).Dialect reports them.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// dialect gathers everything that differs between SQLite and PostgreSQL, so
// that the services above it write one portable SQL.
type dialect struct {
	name string

	// numbered placeholders ($1, $2 …) instead of ?.
	numbered bool

	// prepare keeps a prepared statement per query. SQLite (modernc) would
	// otherwise parse and plan every query anew, a third of a point
	// lookup's time; pgx already caches statements per connection.
	prepare bool

	// Row-lock suffixes for SELECT. SQLite has no row locks and needs none:
	// its single writer connection with BEGIN IMMEDIATE already serializes
	// every write transaction.
	forUpdate string
	forShare  string

	// timeArg turns a time into the value that the dialect's time columns
	// hold.
	timeArg func(time.Time) any

	// isUnique and isForeignKey classify constraint violations, so that the
	// ones a client can cause become *hyponema.Error values.
	isUnique     func(error) bool
	isForeignKey func(error) bool

	// schemaMigrationsDDL creates the table that records applied migrations.
	schemaMigrationsDDL string

	// lockMigrations, run first in each migration transaction, keeps several
	// processes that start at once from migrating at the same time.
	lockMigrations string
}

// rebind rewrites ? placeholders for dialects that number them. It skips
// quoted strings and identifiers, so a literal '?' stays as it is.
func (d *dialect) rebind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// now returns the current time as the store keeps it: UTC, to the
// microsecond, which both databases hold exactly (PostgreSQL's timestamptz
// has no finer precision), so what a call returns equals what a later read
// returns.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// storeTime puts a caller's time in the form that now returns.
func storeTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// sqliteTimeLayout is how SQLite holds times: UTC with exactly six
// fractional digits, so the text is fixed-width and sorts as the times do.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// timeCol scans a time column of either dialect: PostgreSQL hands over a
// time.Time, SQLite the text written by sqliteTimeLayout.
type timeCol struct{ dst *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	t, err := parseTimeValue(src)
	if err != nil {
		return err
	}
	if t == nil {
		return fmt.Errorf("store: NULL in a NOT NULL time column")
	}
	*c.dst = *t
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	t, err := parseTimeValue(src)
	if err != nil {
		return err
	}
	*c.dst = t
	return nil
}

func parseTimeValue(src any) (*time.Time, error) {
	var s string
	switch v := src.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t := v.UTC()
		return &t, nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return nil, fmt.Errorf("store: cannot scan %T into a time", src)
	}
	t, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		return nil, fmt.Errorf("store: bad stored time %q: %w", s, err)
	}
	return &t, nil
}

// nullString maps "" to NULL, for optional references such as
// published_version_id that have foreign keys.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
