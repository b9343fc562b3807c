package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	k1 = Key{ID: "k1", Secret: bytes.Repeat([]byte("a"), 32)}
	k2 = Key{ID: "k2", Secret: bytes.Repeat([]byte("b"), 32)}
)

func TestRoundTrip(t *testing.T) {
	b, err := New("webhooks", k1)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range []string{"", "whsec_abc", strings.Repeat("x", 10000), "\x00\xff"} {
		s := b.Seal(pt, "whk_1")
		if strings.Contains(s, pt) && pt != "" {
			t.Fatalf("sealed text shows the plaintext")
		}
		got, err := b.Open(s, "whk_1")
		if err != nil || got != pt {
			t.Fatalf("Open = %q, %v; want %q", got, err, pt)
		}
	}
	if b.Seal("same", "c") == b.Seal("same", "c") {
		t.Fatal("two seals of the same value are equal: the nonce is not random")
	}
}

func TestOpenRefuses(t *testing.T) {
	b, _ := New("webhooks", k1)
	other, _ := New("tools", k1)
	stranger, _ := New("webhooks", k2)
	s := b.Seal("secret", "whk_1")
	cases := map[string]func() (string, error){
		"other context":  func() (string, error) { return b.Open(s, "whk_2") },
		"other purpose":  func() (string, error) { return other.Open(s, "whk_1") },
		"other key":      func() (string, error) { return stranger.Open(s, "whk_1") },
		"empty":          func() (string, error) { return b.Open("", "whk_1") },
		"not sealed":     func() (string, error) { return b.Open("secret", "whk_1") },
		"short":          func() (string, error) { return b.Open("v1.k1.AAAA", "whk_1") },
		"bad base64":     func() (string, error) { return b.Open("v1.k1.!!!", "whk_1") },
		"unknown key id": func() (string, error) { return b.Open(strings.Replace(s, "k1", "k9", 1), "whk_1") },
	}
	for name, f := range cases {
		if _, err := f(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
	// Every single-byte change of the body is refused.
	for i := len("v1.k1."); i < len(s); i++ {
		c := []byte(s)
		c[i] ^= 1
		if _, err := b.Open(string(c), "whk_1"); err == nil {
			t.Fatalf("altered byte %d opened", i)
		}
	}
}

func TestRotation(t *testing.T) {
	old, _ := New("webhooks", k1)
	s := old.Seal("secret", "c")
	rotated, err := New("webhooks", k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(s, "c"); err != nil || got != "secret" {
		t.Fatalf("rotated box cannot open an old value: %q %v", got, err)
	}
	if ns := rotated.Seal("secret", "c"); !strings.HasPrefix(ns, "v1.k2.") {
		t.Fatalf("rotated box seals with %q", ns[:6])
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New("", k1); err == nil {
		t.Error("empty purpose accepted")
	}
	if _, err := New("p", Key{ID: "k1", Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := New("p", Key{ID: "a.b", Secret: k1.Secret}); err == nil {
		t.Error("key ID with a dot accepted")
	}
	if _, err := New("p", k1, k1); err == nil {
		t.Error("duplicate key ID accepted")
	}
}
