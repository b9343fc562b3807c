package store

import (
	"context"
	"fmt"

	"github.com/hyponema/hyponema"
)

// list fetches one page by keyset on id: rows after the cursor's id in the
// page's order, one more than the limit to learn whether more follow. IDs
// grow with time, so rows inserted while a client pages through a list
// never shift it: no row that existed when paging began is skipped or
// repeated. base is a SELECT … WHERE … without ORDER BY or LIMIT, whose
// table has an id column.
func list[T any](ctx context.Context, db *DB, opt hyponema.PageOptions, base string, args []any,
	scan func(scanner) (T, error), id func(T) string) (hyponema.Page[T], error) {
	after, err := opt.After()
	if err != nil {
		return hyponema.Page[T]{}, err
	}
	limit := opt.PageLimit()
	q := base
	switch {
	case after != "" && opt.Asc:
		q += " AND id > ?"
		args = append(args, after)
	case after != "":
		q += " AND id < ?"
		args = append(args, after)
	}
	if opt.Asc {
		q += " ORDER BY id ASC LIMIT ?"
	} else {
		q += " ORDER BY id DESC LIMIT ?"
	}
	args = append(args, limit+1)

	rows, err := db.read().query(ctx, q, args...)
	if err != nil {
		return hyponema.Page[T]{}, fmt.Errorf("store: list: %w", err)
	}
	defer rows.Close()
	items := make([]T, 0, limit+1)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return hyponema.Page[T]{}, err
		}
		items = append(items, v)
	}
	if err := rows.Err(); err != nil {
		return hyponema.Page[T]{}, fmt.Errorf("store: list: %w", err)
	}
	return hyponema.NewPage(items, limit, id), nil
}
