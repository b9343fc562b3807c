package store

import (
	"context"
	"fmt"
	"time"

	"github.com/hyponema/hyponema"
)

// IdempotencyService stores the first response to each Idempotency-Key.
type IdempotencyService struct{ db *DB }

var _ hyponema.IdempotencyService = (*IdempotencyService)(nil)

// NewIdempotencyService returns the idempotency service of db.
func NewIdempotencyService(db *DB) *IdempotencyService { return &IdempotencyService{db: db} }

// ClaimIdempotencyKey implements hyponema.IdempotencyService. The insert
// and the inspection share one transaction: on PostgreSQL a racing insert of
// the same key waits on the primary key until the first commits, and the
// record is then read FOR UPDATE; on SQLite the write lock serializes the
// whole claim. Either way exactly one caller wins a key.
func (s *IdempotencyService) ClaimIdempotencyKey(ctx context.Context, scope, key, requestHash string, t time.Time) (*hyponema.IdempotencyRecord, error) {
	t = storeTime(t)
	at := s.db.d.timeArg(t)
	var rec *hyponema.IdempotencyRecord
	err := s.db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, created_at, locked_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, idempotency_key) DO NOTHING`, scope, key, requestHash, at, at)
		if err != nil {
			return fmt.Errorf("store: claim idempotency key: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 1 {
			return nil
		}

		var r hyponema.IdempotencyRecord
		if err := tx.queryRow(ctx, `SELECT scope, idempotency_key, request_hash, done, status, content_type, body, created_at, locked_at
			FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?`+s.db.d.forUpdate, scope, key).
			Scan(&r.Scope, &r.Key, &r.RequestHash, &r.Done, &r.Status, &r.ContentType, &r.Body,
				timeCol{&r.CreatedAt}, timeCol{&r.LockedAt}); err != nil {
			return fmt.Errorf("store: read idempotency key: %w", err)
		}
		expired := r.CreatedAt.Before(t.Add(-hyponema.IdempotencyTTL))
		abandoned := !r.Done && r.LockedAt.Before(t.Add(-hyponema.IdempotencyLockTTL))
		if !expired && !abandoned {
			rec = &r
			return nil
		}
		// Take the key over as if it were new.
		if _, err := tx.exec(ctx, `UPDATE idempotency_keys SET request_hash = ?, done = ?, status = 0, content_type = '',
			body = NULL, created_at = ?, locked_at = ? WHERE scope = ? AND idempotency_key = ?`,
			requestHash, false, at, at, scope, key); err != nil {
			return fmt.Errorf("store: take over idempotency key: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// CompleteIdempotencyKey implements hyponema.IdempotencyService.
func (s *IdempotencyService) CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, contentType string, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	res, err := s.db.write().exec(ctx, `UPDATE idempotency_keys SET done = ?, status = ?, content_type = ?, body = ?
		WHERE scope = ? AND idempotency_key = ?`, true, status, contentType, body, scope, key)
	if err != nil {
		return fmt.Errorf("store: complete idempotency key: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return hyponema.Errorf(hyponema.ENOTFOUND, "idempotency key not found")
	}
	return nil
}

// ReleaseIdempotencyKey implements hyponema.IdempotencyService. Only an
// unfinished claim is forgotten: a stored response stays replayable.
func (s *IdempotencyService) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	if _, err := s.db.write().exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND done = ?`,
		scope, key, false); err != nil {
		return fmt.Errorf("store: release idempotency key: %w", err)
	}
	return nil
}

// DeleteExpiredIdempotencyKeys implements hyponema.IdempotencyService.
func (s *IdempotencyService) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.write().exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`,
		s.db.d.timeArg(storeTime(before)))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired idempotency keys: %w", err)
	}
	return rowsAffected(res)
}

// ReleaseUnfinishedIdempotencyKeys implements hyponema.IdempotencyService.
func (s *IdempotencyService) ReleaseUnfinishedIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.db.write().exec(ctx, `DELETE FROM idempotency_keys WHERE done = ?`, false)
	if err != nil {
		return 0, fmt.Errorf("store: release unfinished idempotency keys: %w", err)
	}
	return rowsAffected(res)
}
