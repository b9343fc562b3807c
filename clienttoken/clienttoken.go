// Package clienttoken mints and verifies session client tokens: short-lived
// credentials that let a browser or a mobile app call ONE session's client
// endpoints (api.md, "Public integration paths") without a workspace API key,
// which must never leave the customer's backend.
//
// A token is
//
//	hct_ BASE64URL(header) . BASE64URL(claims) . BASE64URL(HMAC-SHA256)
//
// that is, a JWS compact serialization (RFC 7515, alg HS256) behind a
// prefix. The prefix lets the HTTP layer tell a client token from a
// workspace key ("hyp_") at a glance and lets secret scanners find leaked
// ones; strip it and any JWT tool can decode the token. The header carries a
// key id (kid) so that keys can be rotated: a Keyring signs with its current
// key and verifies with any of its keys. Only alg HS256 is accepted; "none"
// and every other alg are refused before any key is used.
//
// The token is bound to a session, its workspace and its agent, and to an
// audience ("client"). It lives 15 minutes by default and 24 hours at most.
// The package knows nothing about sessions: after Verify the caller loads
// the session named by the claims, checks that it belongs to the claims'
// workspace, and refuses the token once the session has ended — that is what
// makes a token die with its session without a revocation list.
//
// Tokens are secrets: Token redacts itself in fmt and slog, and no error of
// this package holds a token or any part of one.
package clienttoken

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hyponema/hyponema"
)

// Token format and limits.
const (
	// Prefix starts every client token.
	Prefix = "hct_"
	// IDPrefix starts a token's own ID (the JWT jti), kept for revocation
	// lists and audit logs: unlike the token, it is safe to log.
	IDPrefix = "tok_"
	// AudienceClient is the audience of tokens for a session's client
	// endpoints, the only one so far.
	AudienceClient = "client"

	// DefaultTTL is the lifetime of a token when Mint is given none.
	DefaultTTL = 15 * time.Minute
	// MinTTL and MaxTTL bound the lifetime that Mint accepts: under a
	// minute a token would expire in flight; over a day a leaked one is
	// worth too much.
	MinTTL = time.Minute
	MaxTTL = 24 * time.Hour
	// Skew is the clock difference between replicas that Verify forgives on
	// both iat and exp.
	Skew = 30 * time.Second
	// MaxLen bounds what Verify decodes: real tokens are about 350 bytes, so
	// anything longer is refused before any base64 or JSON work.
	MaxLen = 2048
	// MinSecretLen is the shortest key that a Keyring accepts: HMAC-SHA256
	// is as strong as its key, up to the hash's 32 bytes.
	MinSecretLen = 32
)

const (
	alg = "HS256"
	typ = "hct" // our own JWS typ, so a JWT minted for anything else is refused
)

// b64 is strict so that every token has exactly one encoding: otherwise the
// unused low bits of a segment's last character could be changed without
// changing the signature, and a "tampered" token would still verify.
var b64 = base64.RawURLEncoding.Strict()

// Token is a minted client token. Convert it with string(t) to send it; in
// fmt and slog it prints redacted so that it never reaches a log. Note that
// encoding/json writes the real value, which is what a response needs.
type Token string

const redacted = Prefix + "[REDACTED]"

// String redacts the token.
func (t Token) String() string {
	if t == "" {
		return ""
	}
	return redacted
}

// GoString redacts the token for %#v, which does not call String.
func (t Token) GoString() string { return `clienttoken.Token("` + t.String() + `")` }

// LogValue redacts the token for slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Key is one signing key. ID names it in every token it signs, so Verify can
// pick the key without trying them all, and can say unknown_key once a key
// has been rotated out.
type Key struct {
	ID     string
	Secret []byte
}

// String redacts the secret, so a Key in a log or a panic shows its ID only.
func (k Key) String() string { return "clienttoken.Key{ID: " + k.ID + ", Secret: [REDACTED]}" }

// GoString redacts the secret for %#v.
func (k Key) GoString() string { return k.String() }

// LogValue redacts the secret for slog.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// DeriveKey derives a key for one purpose (e.g. "client-token") from the
// server's master secret (HYPONEMA_SECRET_KEY) with HKDF-SHA256, so the one
// configured secret can serve signing, encryption and more without any two
// uses sharing a key. The id is part of the derivation: a new id yields a
// new key from the same master. A master shorter than MinSecretLen bytes is
// refused; HKDF cannot add entropy that the master lacks.
func DeriveKey(id string, master []byte, purpose string) (Key, error) {
	if len(master) < MinSecretLen {
		return Key{}, fmt.Errorf("clienttoken: master secret must be at least %d bytes", MinSecretLen)
	}
	if purpose == "" {
		return Key{}, errors.New("clienttoken: DeriveKey needs a purpose")
	}
	if err := validKeyID(id); err != nil {
		return Key{}, err
	}
	secret, err := hkdf.Key(sha256.New, master, nil, "hyponema/"+purpose+"\x00"+id, sha256.Size)
	if err != nil {
		return Key{}, fmt.Errorf("clienttoken: derive key: %w", err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// Keyring signs with its current key and verifies with any of its keys. To
// rotate, build a keyring whose current key is the new one and whose
// previous keys hold the old one until every token it signed has expired
// (MaxTTL plus Skew), then drop it. A Keyring is immutable and safe for
// concurrent use.
type Keyring struct {
	current string
	keys    map[string][]byte
}

// NewKeyring returns a keyring that signs with current and also verifies
// with previous. Every key needs a distinct ID of 1 to 64 characters from
// [A-Za-z0-9._-] and a secret of at least MinSecretLen bytes. Secrets are
// copied, so the caller may wipe its own.
func NewKeyring(current Key, previous ...Key) (*Keyring, error) {
	k := &Keyring{current: current.ID, keys: make(map[string][]byte, 1+len(previous))}
	for _, key := range append([]Key{current}, previous...) {
		if err := validKeyID(key.ID); err != nil {
			return nil, err
		}
		if len(key.Secret) < MinSecretLen {
			return nil, fmt.Errorf("clienttoken: key %q: secret must be at least %d bytes", key.ID, MinSecretLen)
		}
		if _, dup := k.keys[key.ID]; dup {
			return nil, fmt.Errorf("clienttoken: key id %q is used twice", key.ID)
		}
		k.keys[key.ID] = append([]byte(nil), key.Secret...)
	}
	return k, nil
}

func validKeyID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("clienttoken: a key id must be 1 to 64 characters")
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("clienttoken: a key id may hold only A-Z, a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// Claims is what a token says: who may do what, until when. Times are whole
// seconds, as the token stores them.
type Claims struct {
	SessionID   string    // the one session the token opens (ses_…)
	WorkspaceID string    // the session's workspace, checked by the caller against the session
	AgentID     string    // the session's agent, e.g. for the agent's CORS origins
	Audience    string    // which endpoints accept it: AudienceClient
	IssuedAt    time.Time // when it was minted
	ExpiresAt   time.Time // when it stops working (plus Skew)
	ID          string    // tok_…, unique per token: safe to log, for revocation lists later
}

// Want is what the endpoint that received a token requires of it. Both
// fields are required: an empty one would silently skip a check.
type Want struct {
	SessionID string // the session in the request's path
	Audience  string // the endpoint's audience: AudienceClient
}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// payload is the JSON of Claims: registered JWT names where one fits.
type payload struct {
	SessionID   string `json:"sid"`
	WorkspaceID string `json:"wid"`
	AgentID     string `json:"aid"`
	Audience    string `json:"aud"`
	IssuedAt    int64  `json:"iat"`
	ExpiresAt   int64  `json:"exp"`
	ID          string `json:"jti"`
}

// Mint returns a token for c that lives ttl from now (DefaultTTL when ttl is
// 0), signed with the current key, and the claims it carries: c with
// Audience defaulted to AudienceClient and IssuedAt, ExpiresAt and a fresh
// ID set (any values in c are replaced).
//
// A ttl outside MinTTL..MaxTTL is an *Error with reason invalid_ttl that
// wraps an EINVALID error on the field ttl_seconds (422). Missing session,
// workspace or agent IDs are the caller's bug and a plain error (500).
func (k *Keyring) Mint(c Claims, ttl time.Duration, now time.Time) (Token, Claims, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return "", Claims{}, invalidTTL()
	}
	if c.SessionID == "" || c.WorkspaceID == "" || c.AgentID == "" {
		return "", Claims{}, errors.New("clienttoken: Mint needs a session, workspace and agent ID")
	}
	if c.Audience == "" {
		c.Audience = AudienceClient
	}
	// Whole seconds, as stored: the claims returned equal the ones Verify
	// will return.
	c.IssuedAt = time.Unix(now.Unix(), 0).UTC()
	c.ExpiresAt = c.IssuedAt.Add(ttl.Truncate(time.Second))
	c.ID = hyponema.NewID(IDPrefix)

	h, err := json.Marshal(header{Alg: alg, Kid: k.current, Typ: typ})
	if err != nil {
		return "", Claims{}, fmt.Errorf("clienttoken: %w", err)
	}
	p, err := json.Marshal(payload{
		SessionID: c.SessionID, WorkspaceID: c.WorkspaceID, AgentID: c.AgentID, Audience: c.Audience,
		IssuedAt: c.IssuedAt.Unix(), ExpiresAt: c.ExpiresAt.Unix(), ID: c.ID,
	})
	if err != nil {
		return "", Claims{}, fmt.Errorf("clienttoken: %w", err)
	}

	var b strings.Builder
	b.Grow(len(Prefix) + b64.EncodedLen(len(h)) + 1 + b64.EncodedLen(len(p)) + 1 + b64.EncodedLen(sha256.Size))
	b.WriteString(Prefix)
	b.WriteString(b64.EncodeToString(h))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(p))
	mac := hmac.New(sha256.New, k.keys[k.current])
	mac.Write([]byte(b.String()[len(Prefix):]))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(mac.Sum(nil)))

	// Never hand out a token that Verify would refuse as too long.
	if b.Len() > MaxLen {
		return "", Claims{}, fmt.Errorf("clienttoken: token would be longer than %d bytes; IDs too long", MaxLen)
	}
	return Token(b.String()), c, nil
}

// Verify checks token for an endpoint that wants want, at now, and returns
// its claims. It checks, in order: shape and length, header (alg HS256 and
// our typ), key id, signature (in constant time), claims, time (iat and exp,
// each with Skew), audience, session. It does not know whether the session
// has ended or belongs to the claims' workspace: the caller checks both.
//
// A refused token is an *Error with one of the reasons malformed,
// bad_signature, unknown_key, expired, not_yet_valid (wrapping EUNAUTHORIZED:
// 401) or wrong_session, wrong_audience (wrapping EFORBIDDEN: 403). A want
// with an empty field is the caller's bug and a plain error (500), so that
// a forgotten field fails closed.
func (k *Keyring) Verify(token string, now time.Time, want Want) (*Claims, error) {
	if want.SessionID == "" || want.Audience == "" {
		return nil, errors.New("clienttoken: Verify needs want.SessionID and want.Audience")
	}
	if len(token) > MaxLen {
		return nil, fail(ReasonMalformed)
	}
	body, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		return nil, fail(ReasonMalformed)
	}
	// Only the base64url alphabet and the two dots: encoding/base64 skips
	// '\r' and '\n', so without this check "token\n" would verify too.
	for i := range len(body) {
		if c := body[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, fail(ReasonMalformed)
		}
	}
	h64, rest, ok1 := strings.Cut(body, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, fail(ReasonMalformed)
	}

	hb, err := b64.DecodeString(h64)
	if err != nil {
		return nil, fail(ReasonMalformed)
	}
	var h header
	if json.Unmarshal(hb, &h) != nil {
		return nil, fail(ReasonMalformed)
	}
	// Decide the algorithm ourselves; the header only confirms it. A token
	// that claims any other (none, RS256 …) was not made here.
	if h.Alg != alg {
		return nil, fail(ReasonBadSignature)
	}
	if h.Typ != typ {
		return nil, fail(ReasonMalformed)
	}
	secret, ok := k.keys[h.Kid]
	if !ok {
		return nil, fail(ReasonUnknownKey)
	}
	sig, err := b64.DecodeString(s64)
	if err != nil {
		return nil, fail(ReasonBadSignature)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body[:len(h64)+1+len(p64)]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fail(ReasonBadSignature)
	}

	// From here the bytes are our own, signed; the checks below guard
	// against our own bugs and a future mint that forgets a field.
	pb, err := b64.DecodeString(p64)
	if err != nil {
		return nil, fail(ReasonMalformed)
	}
	var p payload
	if json.Unmarshal(pb, &p) != nil {
		return nil, fail(ReasonMalformed)
	}
	if p.SessionID == "" || p.WorkspaceID == "" || p.AgentID == "" || p.Audience == "" || p.ID == "" ||
		p.IssuedAt <= 0 || p.ExpiresAt <= p.IssuedAt || p.ExpiresAt-p.IssuedAt > int64(MaxTTL/time.Second) {
		return nil, fail(ReasonMalformed)
	}
	c := &Claims{
		SessionID: p.SessionID, WorkspaceID: p.WorkspaceID, AgentID: p.AgentID, Audience: p.Audience,
		IssuedAt: time.Unix(p.IssuedAt, 0).UTC(), ExpiresAt: time.Unix(p.ExpiresAt, 0).UTC(), ID: p.ID,
	}

	// exp is exclusive: at exp+Skew the token is dead.
	if !now.Before(c.ExpiresAt.Add(Skew)) {
		return nil, fail(ReasonExpired)
	}
	if now.Before(c.IssuedAt.Add(-Skew)) {
		return nil, fail(ReasonNotYetValid)
	}
	// Audience before session: a token for other endpoints is refused as
	// such, whatever session it names.
	if c.Audience != want.Audience {
		return nil, fail(ReasonWrongAudience)
	}
	if c.SessionID != want.SessionID {
		return nil, fail(ReasonWrongSession)
	}
	return c, nil
}
