package webhook

import (
	"math/rand/v2"
	"time"
)

// Schedule is when each try of an event at an endpoint is made, counted
// from the failure of the try before: the first at once, then retries after
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, about 28 hours in all. A
// redelivery is one more try, outside the schedule.
var Schedule = []time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// Jitter is the fraction by which a retry's delay varies either way, so
// that the retries of many events that failed together (a receiver's
// outage) do not all come back at the same moment.
const Jitter = 0.1

// MaxRetryAfter bounds how long a receiver's Retry-After may push a retry.
const MaxRetryAfter = 24 * time.Hour

// nextDelay returns the wait before the try after try number attempt
// (1-based) of schedule, jittered, and false when no try follows.
// retryAfter, the receiver's wish, lengthens the wait but never shortens
// it.
func nextDelay(schedule []time.Duration, attempt int, retryAfter time.Duration) (time.Duration, bool) {
	if attempt < 1 || attempt >= len(schedule) {
		return 0, false
	}
	d := schedule[attempt]
	if d > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * Jitter * float64(d))
	}
	return max(d, min(retryAfter, MaxRetryAfter)), true
}
