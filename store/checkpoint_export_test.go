package store

import "time"

// SetCheckpointInterval sets how often SQLite databases opened from now on
// checkpoint in the background, until the returned function restores it.
func SetCheckpointInterval(d time.Duration) (restore func()) {
	old := sqliteCheckpointInterval
	sqliteCheckpointInterval = d
	return func() { sqliteCheckpointInterval = old }
}
