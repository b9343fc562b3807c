package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/hyponema/hyponema"
)

// The browser client: plain HTML, CSS and ES modules, no build step.
//
//	GET /chat/{session_id}  the hosted chat page of a session's client_url
//	GET /widget.js          the embeddable widget (a classic script)
//	GET /web/{file}         the files both load; chat-core.js is the one
//	                        chat module that the page and the widget share
//
// None needs a credential: they are the same public code for everyone. The
// page finds its client token in the URL fragment, which browsers never
// send, and calls the session's client endpoints with it.

// webFiles are the page's and the widget's files.
//
//go:embed web
var webFiles embed.FS

// webFile is an embedded file, ready to serve.
type webFile struct {
	name        string
	contentType string
	body        []byte
	etag        string
}

// webAssets are the files under /web/ by name, and widget.js.
var webAssets = loadWebAssets()

// webContentTypes are the types of the embedded files, by extension.
var webContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

func loadWebAssets() map[string]*webFile {
	out := map[string]*webFile{}
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "web/")
		ct, ok := webContentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("%s: no content type for its extension", p)
		}
		sum := sha256.Sum256(b)
		out[name] = &webFile{name: name, contentType: ct, body: b,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("httpapi: embedded web files: " + err.Error())
	}
	return out
}

// chatPageCSP is the hosted page's Content-Security-Policy: its own
// scripts, styles and API only; no inline code, no framing, no plugins.
const chatPageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// webAssetMaxAge is how long browsers may keep a static file before they
// revalidate it (by ETag): short, since the names carry no version.
const webAssetMaxAge = "public, max-age=300"

// isWebPath reports whether a path is one of the browser client's public
// files, which need no credential.
func isWebPath(p string) bool {
	return p == "/widget.js" || strings.HasPrefix(p, "/chat/") || strings.HasPrefix(p, "/web/")
}

// webRoutes registers what browsers load from Hyponema itself: the hosted
// chat page of a session's client_url, and the embeddable widget.
func (s *Server) webRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /chat/{id}", s.chatPage)
	mux.HandleFunc("GET /widget.js", func(w http.ResponseWriter, r *http.Request) {
		serveWebAsset(w, r, webAssets["widget.js"])
	})
	mux.HandleFunc("GET /web/{file...}", func(w http.ResponseWriter, r *http.Request) {
		f := webAssets[r.PathValue("file")]
		if f == nil || f.name == "chat.html" || f.name == "widget.js" {
			writeError(w, r, hyponema.Errorf(hyponema.ENOTFOUND, "No such file: %s.", r.URL.Path))
			return
		}
		serveWebAsset(w, r, f)
	})
}

// chatPage serves the hosted chat page for any well-formed session ID. It
// is the same page for every session and says nothing about whether the
// session exists: the API, called with the token, does.
func (s *Server) chatPage(w http.ResponseWriter, r *http.Request) {
	if !hyponema.HasPrefix(r.PathValue("id"), hyponema.PrefixSession) {
		writeError(w, r, hyponema.Errorf(hyponema.ENOTFOUND, "No such page: %s.", r.URL.Path))
		return
	}
	f := webAssets["chat.html"]
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", chatPageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// serveWebAsset serves a static file that any origin may load: the widget
// runs on customers' pages and imports chat-core.js from there, as a
// module, which needs CORS.
func serveWebAsset(w http.ResponseWriter, r *http.Request, f *webFile) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", webAssetMaxAge)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
