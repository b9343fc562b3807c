// Package seal encrypts the secrets that Hyponema must be able to read back
// (webhook signing secrets, workspace secrets for tools) before they reach
// the database, so that a copy of the database alone reveals none of them.
//
// A Box seals with AES-256-GCM under a key derived by HKDF-SHA256 from the
// server's secret key (HYPONEMA_SECRET_KEY) and a purpose. Each sealed value
// carries the ID of the key that sealed it ("v1.<key id>.<base64>"), so the
// secret key can be rotated: a Box opens values sealed by any of its keys
// and seals with its current one. The caller's context string (say the
// owning object's ID) is bound as additional data: a sealed value copied to
// another row does not open there.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinSecretLen is the shortest master secret accepted.
const MinSecretLen = 32

// ErrOpen is what Open returns for a value that was not sealed by this
// Box's keys for this context, or that was altered.
var ErrOpen = errors.New("seal: cannot open the sealed value")

// Box seals and opens values. It is immutable and safe for concurrent use.
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// Key is one master secret and the ID that sealed values name it by.
type Key struct {
	ID     string // short, [A-Za-z0-9_-], e.g. "k1"
	Secret []byte // at least MinSecretLen bytes
}

// New returns a Box for purpose that seals with current and opens with
// current or any of previous.
func New(purpose string, current Key, previous ...Key) (*Box, error) {
	if purpose == "" {
		return nil, errors.New("seal: a Box needs a purpose")
	}
	b := &Box{current: current.ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range append([]Key{current}, previous...) {
		if k.ID == "" || strings.ContainsAny(k.ID, ".") {
			return nil, fmt.Errorf("seal: bad key ID %q", k.ID)
		}
		if len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("seal: key %s: the secret must be at least %d bytes", k.ID, MinSecretLen)
		}
		if _, dup := b.aeads[k.ID]; dup {
			return nil, fmt.Errorf("seal: key ID %s given twice", k.ID)
		}
		dk, err := hkdf.Key(sha256.New, k.Secret, nil, "hyponema/seal/"+purpose+"\x00"+k.ID, 32)
		if err != nil {
			return nil, fmt.Errorf("seal: derive key: %w", err)
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads[k.ID] = aead
	}
	return b, nil
}

// Seal encrypts plaintext for context and returns the sealed text.
func (b *Box) Seal(plaintext, context string) string {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return "v1." + b.current + "." + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value that Seal made for the same context.
func (b *Box) Open(sealed, context string) (string, error) {
	v, rest, ok := strings.Cut(sealed, ".")
	if !ok || v != "v1" {
		return "", ErrOpen
	}
	id, body, ok := strings.Cut(rest, ".")
	aead := b.aeads[id]
	if !ok || aead == nil {
		return "", ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", ErrOpen
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}
