package hyponema

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID prefixes, one per type of object. An ID is its prefix followed by a
// lower-case ULID: opaque to clients, unique, and sortable by creation time,
// which is what keyset pagination orders by.
const (
	PrefixWorkspace      = "ws_"
	PrefixAPIKey         = "key_"
	PrefixAgent          = "agt_"
	PrefixAgentVersion   = "agv_"
	PrefixPersona        = "per_"
	PrefixPersonaVersion = "perv_"
	PrefixRequest        = "req_"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ID with the given prefix. IDs made by one process are
// strictly increasing, even within one millisecond.
func NewID(prefix string) string {
	idMu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), idEntropy)
	idMu.Unlock()
	return prefix + strings.ToLower(id.String())
}

// HasPrefix reports whether id looks like an ID of the given prefix. It
// checks the shape only; it never says whether the object exists.
func HasPrefix(id, prefix string) bool {
	return len(id) == len(prefix)+ulid.EncodedSize && strings.HasPrefix(id, prefix)
}
