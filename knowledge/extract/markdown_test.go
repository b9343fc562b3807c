package extract

import "testing"

func TestExtractMarkdown(t *testing.T) {
	in := "---\n" +
		"title: \"Front Title\"\n" +
		"tags: [a, b]\n" +
		"---\n" +
		"# Install *Hyponema*\n" +
		"\n" +
		"Read the [guide](https://example.com/guide \"Guide\") and **then**\n" +
		"run `make_all --fast` with _care_, e.g. on snake_case_names.\n" +
		"![A diagram](img/diagram.png) <!-- a comment -->\n" +
		"\n" +
		"Setext Heading\n" +
		"--------------\n" +
		"\n" +
		"* first item\n" +
		"  continued\n" +
		"+ second [ref link][1]\n" +
		"  - nested\n" +
		"1. numbered\n" +
		"\n" +
		"> Quoted ~~old~~ text &amp; an escaped \\*star\\*.\n" +
		"\n" +
		"| Name | Price |\n" +
		"|:-----|------:|\n" +
		"| Tea  | 3.50  |\n" +
		"| A \\| B | <b>1</b> |\n" +
		"\n" +
		"```python\n" +
		"# a comment, not a heading\n" +
		"print(\"*not emphasis*\")\n" +
		"```\n" +
		"\n" +
		"    indented code\n" +
		"\n" +
		"***\n" +
		"\n" +
		"### Last ###\n" +
		"See <https://example.com> or List<String>.\n" +
		"\n" +
		"[1]: https://example.com/ref\n"
	want := "# Install Hyponema\n" +
		"\n" +
		"Read the guide and then run make_all --fast with care, e.g. on snake_case_names. A diagram\n" +
		"\n" +
		"## Setext Heading\n" +
		"\n" +
		"- first item continued\n" +
		"- second ref link\n" +
		"  - nested\n" +
		"1. numbered\n" +
		"\n" +
		"Quoted old text & an escaped *star*.\n" +
		"\n" +
		"Name | Price\n" +
		"Tea | 3.50\n" +
		"A | B | 1\n" +
		"\n" +
		"```python\n" +
		"# a comment, not a heading\n" +
		"print(\"*not emphasis*\")\n" +
		"```\n" +
		"\n" +
		"    indented code\n" +
		"\n" +
		"### Last\n" +
		"\n" +
		"See https://example.com or List<String>."
	doc := mustExtract(t, []byte(in), "", "notes.md")
	if doc.ContentType != TypeMarkdown || doc.Title != "Front Title" {
		t.Errorf("type %q, title %q", doc.ContentType, doc.Title)
	}
	if doc.Text != want {
		t.Errorf("text:\n%s\n--- want:\n%s", doc.Text, want)
	}
}

func TestExtractMarkdownTitle(t *testing.T) {
	doc := mustExtract(t, []byte("Intro line.\n\nThe Title\n=========\n\nBody.\n\n# Later"), "text/markdown", "")
	if doc.Title != "The Title" {
		t.Errorf("title %q", doc.Title)
	}
	if want := "Intro line.\n\n# The Title\n\nBody.\n\n# Later"; doc.Text != want {
		t.Errorf("text %q", doc.Text)
	}
}

// A document that starts with a thematic break has no front matter.
func TestExtractMarkdownNoFrontMatter(t *testing.T) {
	doc := mustExtract(t, []byte("---\nA paragraph, not YAML.\n\n---\nMore."), "text/markdown", "")
	if want := "A paragraph, not YAML.\n\nMore."; doc.Text != want {
		t.Errorf("text %q, want %q", doc.Text, want)
	}
}
