package store

import (
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"a = '?' AND b = ? AND c = 'it''s ?' AND d = ?", "a = '?' AND b = $1 AND c = 'it''s ?' AND d = $2"},
		{`"odd?" = ?`, `"odd?" = $1`},
	} {
		if got := postgresDialect.rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := sqliteDialect.rebind(c.in); got != c.in {
			t.Errorf("SQLite rebind(%q) = %q, want it unchanged", c.in, got)
		}
	}
}

func TestHasEscapedNUL(t *testing.T) {
	for in, want := range map[string]bool{
		`"a\u0000b"`:       true,
		`"a\\u0000b"`:      false, // the text \u0000
		`"a\\\u0000b"`:     true,  // a backslash, then NUL
		`"\u0001"`:         false,
		`"x\\"`:            false,
		`["\\", "\u0000"]`: true,
	} {
		if got := hasEscapedNUL(in); got != want {
			t.Errorf("hasEscapedNUL(%s) = %v, want %v", in, got, want)
		}
	}
}

// SQLite's time text must sort as the times do, to the microsecond.
func TestSQLiteTimeText(t *testing.T) {
	base := time.Date(2026, 11, 29, 6, 36, 28, 0, time.UTC)
	prev := ""
	for _, d := range []time.Duration{0, time.Microsecond, 999 * time.Millisecond, time.Second, 90 * time.Minute, 400 * 24 * time.Hour} {
		tm := base.Add(d)
		s := sqliteDialect.timeArg(tm).(string)
		if len(s) != len(sqliteTimeLayout) || s <= prev {
			t.Fatalf("%v is stored as %q, after %q", tm, s, prev)
		}
		prev = s
		var back time.Time
		if err := (timeCol{&back}).Scan(s); err != nil || back != tm {
			t.Fatalf("%q scans to %v (%v), want %v", s, back, err, tm)
		}
	}
}
