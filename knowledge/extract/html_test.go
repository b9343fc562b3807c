package extract

import "testing"

func TestExtractHTML(t *testing.T) {
	page := `<!DOCTYPE html>
<html><head>
  <title>Refund  policy &amp; more</title>
  <style>body { color: red }</style>
  <script>console.log("script text")</script>
</head>
<body>
  <header><a href="/">Site name</a></header>
  <nav><ul><li>Home</li><li>About</li></ul></nav>
  <div role="navigation">Breadcrumbs</div>
  <h1>Refunds</h1>
  <p>Customers may ask   for a refund
     within <b>30</b> days&nbsp;&mdash; see <a href="/terms">the terms</a>.</p>
  <p hidden>Hidden text.</p>
  <noscript>Enable JavaScript.</noscript>
  <template><p>Template text.</p></template>
  <h2>How <em>to</em> ask</h2>
  <ol start="3"><li>Write to us.</li><li><p>Wait.</p></li></ol>
  <ul><li>Card</li><li>Cash<ul><li>Nested</li></ul></li></ul>
  <table>
    <thead><tr><th>Plan</th><th>Days</th></tr></thead>
    <tbody><tr><td>Free</td><td>14</td></tr><tr><td>Pro <i>plus</i></td><td>30</td></tr></tbody>
  </table>
  <pre><code># not a heading
  indented</code></pre>
  <div>Line one<br>Line two</div>
  <img src="x.png" alt="A chart">
  <footer>Copyright 2026</footer>
</body></html>`
	want := "# Refunds\n" +
		"\n" +
		"Customers may ask for a refund within 30 days — see the terms.\n" +
		"\n" +
		"## How to ask\n" +
		"\n" +
		"3. Write to us.\n" +
		"4. Wait.\n" +
		"\n" +
		"- Card\n" +
		"- Cash\n" +
		"- Nested\n" +
		"\n" +
		"Plan | Days\n" +
		"Free | 14\n" +
		"Pro plus | 30\n" +
		"\n" +
		"```\n" +
		"# not a heading\n" +
		"  indented\n" +
		"```\n" +
		"\n" +
		"Line one\n" +
		"Line two\n" +
		"A chart"
	doc := mustExtract(t, []byte(page), "", "")
	if doc.ContentType != TypeHTML || doc.Title != "Refund policy & more" {
		t.Errorf("type %q, title %q", doc.ContentType, doc.Title)
	}
	if doc.Text != want {
		t.Errorf("text:\n%s\n--- want:\n%s", doc.Text, want)
	}
}

// The main element, when there is one, is the page; an article keeps its
// own header.
func TestExtractHTMLMain(t *testing.T) {
	page := `<html><body>
<div class="sidebar">Sidebar links</div>
<main><article><header><h1>Post title</h1></header><p>Post body.</p><footer>Posted in News</footer></article></main>
</body></html>`
	doc := mustExtract(t, []byte(page), "text/html", "")
	if want := "# Post title\n\nPost body.\n\nPosted in News"; doc.Text != want {
		t.Errorf("text %q, want %q", doc.Text, want)
	}
	if doc.Title != "Post title" {
		t.Errorf("title %q (the first h1, without a <title>)", doc.Title)
	}
}

func TestExtractHTMLCharset(t *testing.T) {
	page := "<html><head><meta charset=\"windows-1252\"></head><body><p>Caf\xe9 \x80</p></body></html>"
	if doc := mustExtract(t, []byte(page), "text/html", ""); doc.Text != "Café €" {
		t.Errorf("text %q", doc.Text)
	}
	if doc := mustExtract(t, []byte("<p>Caf\xe9</p>"), "text/html; charset=iso-8859-1", ""); doc.Text != "Café" {
		t.Errorf("text %q", doc.Text)
	}
}
