package hyponema

import (
	"context"
	"time"
)

// How long a stored response is replayed, and how long a claim on a key may
// stay unfinished before another request may take it over (the process that
// held it died mid-request).
const (
	IdempotencyTTL     = 24 * time.Hour
	IdempotencyLockTTL = 5 * time.Minute
)

// IdempotencyRecord is the state of one Idempotency-Key within a scope (the
// credential's workspace).
type IdempotencyRecord struct {
	Scope       string
	Key         string
	RequestHash string // SHA-256 of method, path and body: the same key must come with the same request
	Done        bool   // the response below is stored; otherwise a request still holds the key
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
	LockedAt    time.Time
}

// IdempotencyService stores the first response to each Idempotency-Key.
type IdempotencyService interface {
	// ClaimIdempotencyKey claims key for a new request made at now. It
	// returns (nil, nil) when the caller holds the claim and must run the
	// request: the key was new, its record had expired (older than
	// IdempotencyTTL), or its claim was abandoned (unfinished and locked
	// before now-IdempotencyLockTTL). Otherwise it returns the existing
	// record unchanged, for the caller to replay or refuse.
	ClaimIdempotencyKey(ctx context.Context, scope, key, requestHash string, now time.Time) (*IdempotencyRecord, error)

	// CompleteIdempotencyKey stores the response of a claimed key.
	CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, contentType string, body []byte) error

	// ReleaseIdempotencyKey forgets a claim whose request failed in a way
	// that a retry should run again (a 5xx).
	ReleaseIdempotencyKey(ctx context.Context, scope, key string) error

	// DeleteExpiredIdempotencyKeys removes records created before before.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)

	// ReleaseUnfinishedIdempotencyKeys forgets every claim that holds no
	// response, for a process that owns the database alone (SQLite) and
	// starts: any such claim is a dead process's, and its client's retry
	// should not wait IdempotencyLockTTL.
	ReleaseUnfinishedIdempotencyKeys(ctx context.Context) (int64, error)
}
