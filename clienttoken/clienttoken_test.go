package clienttoken_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
)

var (
	t0     = time.Date(2026, 11, 29, 6, 36, 28, 0, time.UTC)
	claims = clienttoken.Claims{SessionID: "ses_1", WorkspaceID: "ws_1", AgentID: "agt_1"}
	want   = clienttoken.Want{SessionID: "ses_1", Audience: clienttoken.AudienceClient}
	b64    = base64.RawURLEncoding
)

func mustKeyring(tb testing.TB, current clienttoken.Key, previous ...clienttoken.Key) *clienttoken.Keyring {
	tb.Helper()
	k, err := clienttoken.NewKeyring(current, previous...)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func key(id string, fill byte) clienttoken.Key {
	return clienttoken.Key{ID: id, Secret: bytes.Repeat([]byte{fill}, 32)}
}

func mustMint(tb testing.TB, k *clienttoken.Keyring, c clienttoken.Claims, ttl time.Duration, now time.Time) string {
	tb.Helper()
	tok, _, err := k.Mint(c, ttl, now)
	if err != nil {
		tb.Fatal(err)
	}
	return string(tok)
}

// wantReason fails unless err is an *Error with reason r.
func wantReason(t *testing.T, err error, r clienttoken.Reason) {
	t.Helper()
	var e *clienttoken.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *clienttoken.Error with reason %s", err, r)
	}
	if e.Reason != r {
		t.Fatalf("reason = %s, want %s", e.Reason, r)
	}
}

// forge signs an arbitrary header and payload as Mint would, to test what
// Verify does with tokens that are well signed but not well made.
func forge(hdr, payload string, secret []byte) string {
	in := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(in))
	return clienttoken.Prefix + in + "." + b64.EncodeToString(mac.Sum(nil))
}

func validPayload() string {
	return fmt.Sprintf(`{"sid":"ses_1","wid":"ws_1","aid":"agt_1","aud":"client","iat":%d,"exp":%d,"jti":"tok_1"}`,
		t0.Unix(), t0.Add(15*time.Minute).Unix())
}

func TestRoundTrip(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	tok, minted, err := k.Mint(claims, 0, t0.Add(700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(tok), clienttoken.Prefix) || len(tok) > 400 {
		t.Errorf("token has length %d or lacks the prefix", len(tok))
	}
	if minted.Audience != clienttoken.AudienceClient || !minted.IssuedAt.Equal(t0) ||
		!minted.ExpiresAt.Equal(t0.Add(clienttoken.DefaultTTL)) || !strings.HasPrefix(minted.ID, clienttoken.IDPrefix) {
		t.Errorf("minted claims = %+v", minted)
	}
	got, err := k.Verify(string(tok), t0.Add(time.Minute), want)
	if err != nil {
		t.Fatal(err)
	}
	if *got != minted {
		t.Errorf("verified claims = %+v, want %+v", *got, minted)
	}

	// Without the prefix it is a JWS that any JWT tool can read.
	parts := strings.Split(strings.TrimPrefix(string(tok), clienttoken.Prefix), ".")
	hb, _ := b64.DecodeString(parts[0])
	if string(hb) != `{"alg":"HS256","kid":"k1","typ":"hct"}` {
		t.Errorf("header = %s", hb)
	}

	// Each token has its own ID.
	_, again, _ := k.Mint(claims, 0, t0)
	if again.ID == minted.ID {
		t.Error("two tokens share an ID")
	}
}

func TestVerifyTime(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	tok := mustMint(t, k, claims, 10*time.Minute, t0)
	exp := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name string
		now  time.Time
		want clienttoken.Reason // "" for accepted
	}{
		{"issued beyond skew in the future", t0.Add(-clienttoken.Skew - time.Second), clienttoken.ReasonNotYetValid},
		{"issued within skew in the future", t0.Add(-clienttoken.Skew), ""},
		{"at issue", t0, ""},
		{"just before exp", exp.Add(-time.Second), ""},
		{"exactly at exp (within skew)", exp, ""},
		{"last instant within skew", exp.Add(clienttoken.Skew - time.Nanosecond), ""},
		{"exactly at exp plus skew", exp.Add(clienttoken.Skew), clienttoken.ReasonExpired},
		{"an hour later", exp.Add(time.Hour), clienttoken.ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(tok, tc.now, want)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantReason(t, err, tc.want)
		})
	}
}

// TestTamper changes every character of a token to every other character of
// the base64url alphabet (and to '.', '=' and '+'): no change may verify.
func TestTamper(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'), key("k2", 'b'))
	tok := mustMint(t, k, claims, 0, t0)
	hdrEnd := strings.Index(tok, ".")
	payEnd := strings.LastIndex(tok, ".")
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+"
	for i := range len(tok) {
		for _, c := range []byte(alphabet) {
			if tok[i] == c {
				continue
			}
			b := []byte(tok)
			b[i] = c
			_, err := k.Verify(string(b), t0, want)
			var e *clienttoken.Error
			if !errors.As(err, &e) {
				t.Fatalf("byte %d set to %q: err = %v, want a refusal", i, c, err)
			}
			// Outside the header, a changed base64 character can only fail
			// the signature (or the shape, for '.', '=' and '+').
			if i > hdrEnd && i != payEnd && strings.IndexByte("-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", c) >= 0 &&
				e.Reason != clienttoken.ReasonBadSignature {
				t.Fatalf("byte %d set to %q: reason %s, want bad_signature", i, c, e.Reason)
			}
		}
	}
	// Dropping or adding a character at the end of the signature.
	for _, bad := range []string{tok[:len(tok)-1], tok + "A", tok + "AA"} {
		_, err := k.Verify(bad, t0, want)
		wantReason(t, err, clienttoken.ReasonBadSignature)
	}
	// Inserting a character that a lenient decoder would skip, anywhere.
	for i := range len(tok) + 1 {
		for _, c := range []string{"\n", "\r", " ", "=", "\x00"} {
			if _, err := k.Verify(tok[:i]+c+tok[i:], t0, want); err == nil {
				t.Fatalf("%q inserted at %d verifies", c, i)
			}
		}
	}
}

func TestVerifyForgedHeader(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'), key("k2", 'b'))
	valid := mustMint(t, k, claims, 0, t0)
	parts := strings.SplitN(strings.TrimPrefix(valid, clienttoken.Prefix), ".", 3)
	withHeader := func(h string) string {
		return clienttoken.Prefix + b64.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
	}
	a := bytes.Repeat([]byte{'a'}, 32)
	for _, tc := range []struct {
		name  string
		token string
		want  clienttoken.Reason
	}{
		{"kid swapped to the other key of the ring", withHeader(`{"alg":"HS256","kid":"k2","typ":"hct"}`), clienttoken.ReasonBadSignature},
		{"kid unknown", withHeader(`{"alg":"HS256","kid":"k9","typ":"hct"}`), clienttoken.ReasonUnknownKey},
		{"kid missing", withHeader(`{"alg":"HS256","typ":"hct"}`), clienttoken.ReasonUnknownKey},
		{"alg none, no signature", clienttoken.Prefix + b64.EncodeToString([]byte(`{"alg":"none","kid":"k1","typ":"hct"}`)) + "." + parts[1] + ".", clienttoken.ReasonBadSignature},
		{"alg none, signed with the real key", forge(`{"alg":"none","kid":"k1","typ":"hct"}`, validPayload(), a), clienttoken.ReasonBadSignature},
		{"alg HS512", forge(`{"alg":"HS512","kid":"k1","typ":"hct"}`, validPayload(), a), clienttoken.ReasonBadSignature},
		{"alg RS256", forge(`{"alg":"RS256","kid":"k1","typ":"hct"}`, validPayload(), a), clienttoken.ReasonBadSignature},
		{"alg in lower case", forge(`{"alg":"hs256","kid":"k1","typ":"hct"}`, validPayload(), a), clienttoken.ReasonBadSignature},
		{"alg missing", forge(`{"kid":"k1","typ":"hct"}`, validPayload(), a), clienttoken.ReasonBadSignature},
		{"typ JWT (a token for something else)", forge(`{"alg":"HS256","kid":"k1","typ":"JWT"}`, validPayload(), a), clienttoken.ReasonMalformed},
		{"header not JSON", forge(`alg=HS256`, validPayload(), a), clienttoken.ReasonMalformed},
		{"header a JSON array", forge(`["HS256"]`, validPayload(), a), clienttoken.ReasonMalformed},
		{"signed by a key of the same id elsewhere", forge(`{"alg":"HS256","kid":"k1","typ":"hct"}`, validPayload(), bytes.Repeat([]byte{'z'}, 32)), clienttoken.ReasonBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(tc.token, t0, want)
			wantReason(t, err, tc.want)
		})
	}

	// The forge helper makes tokens that verify, so the refusals above are
	// for what they changed.
	if _, err := k.Verify(forge(`{"alg":"HS256","kid":"k1","typ":"hct"}`, validPayload(), a), t0, want); err != nil {
		t.Fatalf("forge is broken: %v", err)
	}
}

// TestVerifyForgedClaims covers well signed tokens with bad claims: only a
// bug of ours (or a stolen key) could make them, and they still fail.
func TestVerifyForgedClaims(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	a := bytes.Repeat([]byte{'a'}, 32)
	hdr := `{"alg":"HS256","kid":"k1","typ":"hct"}`
	iat, exp := t0.Unix(), t0.Add(15*time.Minute).Unix()
	p := func(sid, wid, aid, aud string, iat, exp int64, jti string) string {
		return fmt.Sprintf(`{"sid":%q,"wid":%q,"aid":%q,"aud":%q,"iat":%d,"exp":%d,"jti":%q}`, sid, wid, aid, aud, iat, exp, jti)
	}
	for _, tc := range []struct {
		name, payload string
	}{
		{"no session", p("", "ws_1", "agt_1", "client", iat, exp, "tok_1")},
		{"no workspace", p("ses_1", "", "agt_1", "client", iat, exp, "tok_1")},
		{"no agent", p("ses_1", "ws_1", "", "client", iat, exp, "tok_1")},
		{"no audience", p("ses_1", "ws_1", "agt_1", "", iat, exp, "tok_1")},
		{"no id", p("ses_1", "ws_1", "agt_1", "client", iat, exp, "")},
		{"no iat", p("ses_1", "ws_1", "agt_1", "client", 0, exp, "tok_1")},
		{"exp before iat", p("ses_1", "ws_1", "agt_1", "client", iat, iat-1, "tok_1")},
		{"lives longer than MaxTTL", p("ses_1", "ws_1", "agt_1", "client", iat, iat+int64(clienttoken.MaxTTL/time.Second)+1, "tok_1")},
		{"exp a string", fmt.Sprintf(`{"sid":"ses_1","wid":"ws_1","aid":"agt_1","aud":"client","iat":%d,"exp":"never","jti":"tok_1"}`, iat)},
		{"not JSON", "ses_1"},
		{"null", "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(forge(hdr, tc.payload, a), t0, want)
			wantReason(t, err, clienttoken.ReasonMalformed)
		})
	}
}

func TestRotation(t *testing.T) {
	old, cur := key("2026-10", 'o'), key("2026-11", 'n')
	before := mustKeyring(t, old)
	during := mustKeyring(t, cur, old)
	after := mustKeyring(t, cur)

	oldTok := mustMint(t, before, claims, 0, t0)
	if _, err := during.Verify(oldTok, t0, want); err != nil {
		t.Fatalf("a token of the previous key is refused during rotation: %v", err)
	}
	newTok := mustMint(t, during, claims, 0, t0)
	hb, _ := b64.DecodeString(strings.Split(strings.TrimPrefix(newTok, clienttoken.Prefix), ".")[0])
	if !strings.Contains(string(hb), `"kid":"2026-11"`) {
		t.Errorf("during rotation the keyring signs with %s, want the current key", hb)
	}
	for name, k := range map[string]*clienttoken.Keyring{"during": during, "after": after} {
		if _, err := k.Verify(newTok, t0, want); err != nil {
			t.Errorf("%s: the current key's token is refused: %v", name, err)
		}
	}
	_, err := after.Verify(oldTok, t0, want)
	wantReason(t, err, clienttoken.ReasonUnknownKey)
}

func TestKeyringsDoNotCrossVerify(t *testing.T) {
	a := mustKeyring(t, key("k1", 'a'))
	sameID := mustKeyring(t, key("k1", 'b'))
	otherID := mustKeyring(t, key("k2", 'a'))
	tok := mustMint(t, a, claims, 0, t0)
	_, err := sameID.Verify(tok, t0, want)
	wantReason(t, err, clienttoken.ReasonBadSignature)
	_, err = otherID.Verify(tok, t0, want)
	wantReason(t, err, clienttoken.ReasonUnknownKey)
}

func TestVerifyBinding(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	tok := mustMint(t, k, claims, 0, t0)
	other := claims
	other.Audience = "dashboard"
	otherAud := mustMint(t, k, other, 0, t0)
	for _, tc := range []struct {
		name  string
		token string
		want  clienttoken.Want
		r     clienttoken.Reason
		code  string
	}{
		{"wrong session", tok, clienttoken.Want{SessionID: "ses_2", Audience: "client"}, clienttoken.ReasonWrongSession, hyponema.EFORBIDDEN},
		{"wrong audience", otherAud, want, clienttoken.ReasonWrongAudience, hyponema.EFORBIDDEN},
		{"endpoint of another audience", tok, clienttoken.Want{SessionID: "ses_1", Audience: "dashboard"}, clienttoken.ReasonWrongAudience, hyponema.EFORBIDDEN},
		{"wrong audience and session: audience first", otherAud, clienttoken.Want{SessionID: "ses_2", Audience: "client"}, clienttoken.ReasonWrongAudience, hyponema.EFORBIDDEN},
		{"session ID differs in case only", tok, clienttoken.Want{SessionID: "SES_1", Audience: "client"}, clienttoken.ReasonWrongSession, hyponema.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := k.Verify(tc.token, t0, tc.want)
			if c != nil {
				t.Errorf("claims returned with an error")
			}
			wantReason(t, err, tc.r)
			if got := hyponema.ErrorCode(err); got != tc.code {
				t.Errorf("code = %s, want %s", got, tc.code)
			}
		})
	}

	// A Want with a field left empty fails closed, as the caller's bug.
	for _, w := range []clienttoken.Want{{Audience: "client"}, {SessionID: "ses_1"}, {}} {
		_, err := k.Verify(tok, t0, w)
		if err == nil || clienttoken.ReasonOf(err) != "" {
			t.Errorf("Verify with %+v: err = %v, want a plain error", w, err)
		}
	}
}

func TestMintTTL(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	for _, tc := range []struct {
		ttl  time.Duration
		want time.Duration // 0: refused
	}{
		{0, 15 * time.Minute},
		{time.Minute, time.Minute},
		{90*time.Second + 900*time.Millisecond, 90 * time.Second},
		{24 * time.Hour, 24 * time.Hour},
		{time.Minute - time.Nanosecond, 0},
		{time.Second, 0},
		{-time.Minute, 0},
		{24*time.Hour + time.Second, 0},
		{365 * 24 * time.Hour, 0},
	} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			tok, c, err := k.Mint(claims, tc.ttl, t0)
			if tc.want == 0 {
				wantReason(t, err, clienttoken.ReasonInvalidTTL)
				var he *hyponema.Error
				if !errors.As(err, &he) || he.Code != hyponema.EINVALID || len(he.Fields) != 1 ||
					!slices.Equal(he.Fields[0].Loc, []string{"body", "ttl_seconds"}) || he.Fields[0].Type != "out_of_range" {
					t.Fatalf("err = %#v, want EINVALID on ttl_seconds", he)
				}
				if tok != "" {
					t.Error("a token came with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != tc.want {
				t.Errorf("lifetime = %v, want %v", got, tc.want)
			}
			if _, err := k.Verify(string(tok), c.ExpiresAt.Add(-time.Second), want); err != nil {
				t.Errorf("refused before exp: %v", err)
			}
		})
	}
}

func TestMintNeedsIDs(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	for _, c := range []clienttoken.Claims{
		{WorkspaceID: "ws_1", AgentID: "agt_1"},
		{SessionID: "ses_1", AgentID: "agt_1"},
		{SessionID: "ses_1", WorkspaceID: "ws_1"},
		{SessionID: strings.Repeat("s", 2000), WorkspaceID: "ws_1", AgentID: "agt_1"}, // would not fit MaxLen
	} {
		if _, _, err := k.Mint(c, 0, t0); err == nil || clienttoken.ReasonOf(err) != "" {
			t.Errorf("Mint(%+v): err = %v, want a plain error", c, err)
		}
	}
}

func TestVerifyGarbage(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'))
	valid := mustMint(t, k, claims, 0, t0)
	body := strings.TrimPrefix(valid, clienttoken.Prefix)
	for _, tc := range []struct {
		name, token string
		want        clienttoken.Reason
	}{
		{"empty", "", clienttoken.ReasonMalformed},
		{"prefix only", "hct_", clienttoken.ReasonMalformed},
		{"dots only", "hct_..", clienttoken.ReasonMalformed},
		{"a workspace key", "hyp_" + strings.Repeat("A", 41), clienttoken.ReasonMalformed},
		{"without the prefix", body, clienttoken.ReasonMalformed},
		{"prefix in upper case", "HCT_" + body, clienttoken.ReasonMalformed},
		{"Bearer scheme left in", "Bearer " + valid, clienttoken.ReasonMalformed},
		{"trailing space", valid + " ", clienttoken.ReasonMalformed},
		{"trailing newline", valid + "\n", clienttoken.ReasonMalformed},
		{"newline inside the signature", valid[:len(valid)-5] + "\r\n" + valid[len(valid)-5:], clienttoken.ReasonMalformed},
		{"newline inside the payload", strings.Replace(valid, ".", ".\n", 1), clienttoken.ReasonMalformed},
		{"four segments", valid + ".AAAA", clienttoken.ReasonMalformed},
		{"two segments", clienttoken.Prefix + strings.Join(strings.Split(body, ".")[:2], "."), clienttoken.ReasonMalformed},
		{"padded base64", strings.Replace(valid, ".", "=.", 1), clienttoken.ReasonMalformed},
		{"standard base64 alphabet", clienttoken.Prefix + "+/+/." + strings.SplitN(body, ".", 2)[1], clienttoken.ReasonMalformed},
		{"not UTF-8", "hct_\xff\xfe.\x00.\x01", clienttoken.ReasonMalformed},
		{"just over MaxLen", valid + strings.Repeat("A", clienttoken.MaxLen-len(valid)+1), clienttoken.ReasonMalformed},
		{"a megabyte", clienttoken.Prefix + strings.Repeat("A", 1<<20), clienttoken.ReasonMalformed},
		{"a megabyte of dots", strings.Repeat(".", 1<<20), clienttoken.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Verify(tc.token, t0, want)
			wantReason(t, err, tc.want)
			if got := hyponema.ErrorCode(err); got != hyponema.EUNAUTHORIZED {
				t.Errorf("code = %s, want unauthorized", got)
			}
		})
	}
}

// TestNoLeak checks that a token, or any segment of it, shows in no error,
// no fmt verb and no slog record, and that a key's secret does not either.
func TestNoLeak(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'), key("k2", 'b'))
	tok, c, err := k.Mint(claims, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	s := string(tok)
	segments := strings.Split(strings.TrimPrefix(s, clienttoken.Prefix), ".")[1:] // the header is the same for every token
	leaks := func(out string) bool {
		if strings.Contains(out, s) || strings.Contains(out, strings.TrimPrefix(s, clienttoken.Prefix)) {
			return true
		}
		for _, seg := range segments {
			if strings.Contains(out, seg) {
				return true
			}
		}
		return false
	}

	var printed []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		printed = append(printed, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c),
			fmt.Sprintf(verb, struct{ T clienttoken.Token }{tok}))
	}
	printed = append(printed, fmt.Sprint(tok), fmt.Sprint(c), fmt.Sprintln(tok))
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("minted", "token", tok, "claims", c)
	log.Info("minted", slog.Any("token", tok), slog.Group("g", "token", tok))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("minted", "token", tok)
	printed = append(printed, logs.String())
	for _, out := range printed {
		if leaks(out) {
			t.Errorf("the token leaks in %q", out)
		}
	}
	if got := tok.String(); got != "hct_[REDACTED]" {
		t.Errorf("String() = %q", got)
	}

	// Errors of every kind, for this token and damaged copies of it.
	tampered := []byte(s)
	tampered[len(tampered)-2] ^= 1
	cases := []struct {
		token string
		now   time.Time
		w     clienttoken.Want
	}{
		{s, t0.Add(time.Hour), want},
		{s, t0.Add(-time.Hour), want},
		{s, t0, clienttoken.Want{SessionID: "ses_2", Audience: "client"}},
		{s, t0, clienttoken.Want{SessionID: "ses_1", Audience: "x"}},
		{s, t0, clienttoken.Want{}},
		{string(tampered), t0, want},
		{s + "x", t0, want},
		{s[:len(s)-3], t0, want},
		{s + strings.Repeat("A", 3000), t0, want},
		{strings.Replace(s, ".", "!.", 1), t0, want},
	}
	for _, tc := range cases {
		_, err := k.Verify(tc.token, tc.now, tc.w)
		if err == nil {
			t.Fatalf("accepted")
		}
		for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), hyponema.ErrorMessage(err)} {
			if leaks(out) {
				t.Errorf("the token leaks in the error %q", out)
			}
		}
	}
	_, err = mustKeyring(t, key("k3", 'c')).Verify(s, t0, want)
	if leaks(err.Error()) {
		t.Errorf("the token leaks in %q", err)
	}

	// Keys print their ID, never their secret.
	kk := key("k1", 'q')
	secretStr := string(kk.Secret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, out := range []string{fmt.Sprintf(verb, kk), fmt.Sprintf(verb, &kk), fmt.Sprintf(verb, []clienttoken.Key{kk})} {
			if strings.Contains(out, secretStr) || strings.Contains(out, fmt.Sprintf("%x", kk.Secret)) || strings.Contains(out, "113 113") {
				t.Errorf("the secret leaks in %q", out)
			}
		}
	}

	// JSON writes the real token: a response needs it.
	b, _ := json.Marshal(map[string]clienttoken.Token{"client_token": tok})
	if !strings.Contains(string(b), s) {
		t.Errorf("json = %s, want the token", b)
	}
}

func TestErrorCodes(t *testing.T) {
	for r, code := range map[clienttoken.Reason]string{
		clienttoken.ReasonMalformed:     hyponema.EUNAUTHORIZED,
		clienttoken.ReasonBadSignature:  hyponema.EUNAUTHORIZED,
		clienttoken.ReasonUnknownKey:    hyponema.EUNAUTHORIZED,
		clienttoken.ReasonExpired:       hyponema.EUNAUTHORIZED,
		clienttoken.ReasonNotYetValid:   hyponema.EUNAUTHORIZED,
		clienttoken.ReasonWrongSession:  hyponema.EFORBIDDEN,
		clienttoken.ReasonWrongAudience: hyponema.EFORBIDDEN,
	} {
		err := errorFor(t, r)
		wantReason(t, err, r)
		if got := hyponema.ErrorCode(err); got != code {
			t.Errorf("%s: code = %s, want %s", r, got, code)
		}
		if err.Error() != "clienttoken: "+string(r) {
			t.Errorf("%s: Error() = %q", r, err.Error())
		}
		if msg := hyponema.ErrorMessage(err); msg == "" || msg == "Internal error." {
			t.Errorf("%s: message = %q", r, msg)
		}
		if clienttoken.ReasonOf(fmt.Errorf("auth: %w", err)) != r {
			t.Errorf("%s: ReasonOf through wrapping", r)
		}
	}
	if clienttoken.ReasonOf(errors.New("x")) != "" || clienttoken.ReasonOf(nil) != "" {
		t.Error("ReasonOf of a foreign error")
	}
}

// errorFor provokes a refusal with reason r.
func errorFor(t *testing.T, r clienttoken.Reason) error {
	t.Helper()
	k := mustKeyring(t, key("k1", 'a'))
	tok := mustMint(t, k, claims, 0, t0)
	w, now := want, t0
	switch r {
	case clienttoken.ReasonMalformed:
		tok = "nonsense"
	case clienttoken.ReasonBadSignature:
		tok = tok[:len(tok)-1] + "A"
		if strings.HasSuffix(mustMint(t, k, claims, 0, t0), "A") {
			tok = tok[:len(tok)-1] + "B"
		}
	case clienttoken.ReasonUnknownKey:
		k = mustKeyring(t, key("k2", 'a'))
	case clienttoken.ReasonExpired:
		now = t0.Add(time.Hour)
	case clienttoken.ReasonNotYetValid:
		now = t0.Add(-time.Hour)
	case clienttoken.ReasonWrongSession:
		w.SessionID = "ses_2"
	case clienttoken.ReasonWrongAudience:
		w.Audience = "other"
	}
	_, err := k.Verify(tok, now, w)
	return err
}

func TestNewKeyring(t *testing.T) {
	good := key("k1", 'a')
	for _, tc := range []struct {
		name     string
		current  clienttoken.Key
		previous []clienttoken.Key
	}{
		{"short secret", clienttoken.Key{ID: "k1", Secret: make([]byte, 31)}, nil},
		{"no secret", clienttoken.Key{ID: "k1"}, nil},
		{"short previous secret", good, []clienttoken.Key{{ID: "k0", Secret: []byte("short")}}},
		{"empty id", clienttoken.Key{Secret: good.Secret}, nil},
		{"id with a quote", clienttoken.Key{ID: `k"1`, Secret: good.Secret}, nil},
		{"id with a space", clienttoken.Key{ID: "k 1", Secret: good.Secret}, nil},
		{"id too long", clienttoken.Key{ID: strings.Repeat("k", 65), Secret: good.Secret}, nil},
		{"duplicate id", good, []clienttoken.Key{key("k1", 'b')}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := clienttoken.NewKeyring(tc.current, tc.previous...)
			if err == nil || k != nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), string(good.Secret)) {
				t.Errorf("the secret leaks in %q", err)
			}
		})
	}

	// The keyring copies secrets: wiping the caller's does not change it.
	sec := bytes.Repeat([]byte{'a'}, 32)
	k := mustKeyring(t, clienttoken.Key{ID: "k1", Secret: sec})
	tok := mustMint(t, k, claims, 0, t0)
	clear(sec)
	if _, err := k.Verify(tok, t0, want); err != nil {
		t.Errorf("after the caller wiped its secret: %v", err)
	}
	if _, err := mustKeyring(t, key("k1", 'a')).Verify(tok, t0, want); err != nil {
		t.Errorf("signed with something else than the given secret: %v", err)
	}
}

func TestDeriveKey(t *testing.T) {
	master := []byte("0123456789abcdef0123456789abcdef")
	a, err := clienttoken.DeriveKey("k1", master, "client-token")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "k1" || len(a.Secret) != 32 || bytes.Equal(a.Secret, master[:32]) {
		t.Fatalf("derived %v with a %d-byte secret", a, len(a.Secret))
	}
	same, _ := clienttoken.DeriveKey("k1", master, "client-token")
	if !bytes.Equal(a.Secret, same.Secret) {
		t.Error("not deterministic: replicas would not verify each other's tokens")
	}
	otherMaster := bytes.Clone(master)
	otherMaster[0] ^= 1
	for name, args := range map[string]struct {
		id      string
		master  []byte
		purpose string
	}{
		"other purpose": {"k1", master, "webhook-signing"},
		"other id":      {"k2", master, "client-token"},
		"other master":  {"k1", otherMaster, "client-token"},
	} {
		b, err := clienttoken.DeriveKey(args.id, args.master, args.purpose)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a.Secret, b.Secret) {
			t.Errorf("%s: same secret", name)
		}
	}
	for name, args := range map[string]struct {
		id      string
		master  []byte
		purpose string
	}{
		"short master": {"k1", master[:31], "client-token"},
		"no purpose":   {"k1", master, ""},
		"bad id":       {"", master, "client-token"},
	} {
		if _, err := clienttoken.DeriveKey(args.id, args.master, args.purpose); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// A derived key works in a keyring.
	k := mustKeyring(t, a)
	if _, err := k.Verify(mustMint(t, k, claims, 0, t0), t0, want); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrent(t *testing.T) {
	k := mustKeyring(t, key("k1", 'a'), key("k0", 'b'))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				tok, _, err := k.Mint(claims, 0, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Verify(string(tok), t0, want); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzVerify checks that Verify never panics, and that nothing but a token
// the keyring minted verifies: any other string, however close, fails.
func FuzzVerify(f *testing.F) {
	k := mustKeyring(f, key("k1", 'a'), key("k0", 'b'))
	// Seeds must be the same in every fuzzing process, and Mint gives each
	// token a fresh ID: make them with forge, as Mint would, instead.
	a := bytes.Repeat([]byte{'a'}, 32)
	valid := forge(`{"alg":"HS256","kid":"k1","typ":"hct"}`, validPayload(), a)
	old := forge(`{"alg":"HS256","kid":"k0","typ":"hct"}`, validPayload(), bytes.Repeat([]byte{'b'}, 32))
	for _, s := range []string{
		valid, old, "", "hct_", "hct_..", "hct_...", "hyp_x",
		valid[:len(valid)/2], valid + "=", valid + "\n", valid[:len(valid)-3] + "\r\n" + valid[len(valid)-3:],
		strings.Replace(valid, "hct_", "", 1),
		forge(`{"alg":"none","kid":"k1","typ":"hct"}`, validPayload(), a),
		forge(`{"alg":"HS256","kid":"k1","typ":"hct"}`, `{"sid":1}`, a),
		forge(`{"alg":"HS256","kid":"k1","typ":"hct"}`, `{"iat":-9223372036854775808,"exp":9223372036854775807}`, a),
		"hct_" + strings.Repeat("e30.", 600),
	} {
		f.Add(s)
	}
	accepted := map[string]bool{valid: true, old: true}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := k.Verify(s, t0, want)
		if err == nil {
			if !accepted[s] {
				t.Fatalf("verified a token the keyring did not make: %q", s)
			}
			if c == nil || c.SessionID != want.SessionID {
				t.Fatalf("claims = %+v", c)
			}
			return
		}
		if c != nil {
			t.Fatal("claims returned with an error")
		}
		if clienttoken.ReasonOf(err) == "" {
			t.Fatalf("err = %v, want an *Error", err)
		}
		if len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("the input leaks in %q", err)
		}
	})
}

func BenchmarkMint(b *testing.B) {
	k := mustKeyring(b, key("k1", 'a'))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := k.Mint(claims, 0, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKeyring(b, key("k1", 'a'), key("k0", 'b'))
	tok := mustMint(b, k, claims, 0, t0)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Verify(tok, t0, want); err != nil {
				b.Fatal(err)
			}
		}
	})
	bad := tok[:len(tok)-2] + "AA"
	b.Run("bad_signature", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Verify(bad, t0, want); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
