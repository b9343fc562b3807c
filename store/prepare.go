package store

import "context"

// prepareForTx makes sure that each query has a prepared statement on the
// writer before a write transaction that runs it begins. Inside a
// transaction conn.on only uses statements that exist already (preparing
// there would wait for the writer that the transaction holds), so without
// this the queries of the hot write paths (SaveMessage, AppendEvents) would
// be parsed and planned anew on every call on SQLite. It is a map lookup
// once a query is prepared, and a no-op on PostgreSQL, where pgx caches
// statements per connection. A query that fails to prepare is left to the
// plain call inside the transaction, which reports the error.
func (db *DB) prepareForTx(ctx context.Context, queries ...string) {
	if !db.d.prepare {
		return
	}
	for _, q := range queries {
		_, _ = db.stmt(ctx, db.writer, db.rebind(q))
	}
}
