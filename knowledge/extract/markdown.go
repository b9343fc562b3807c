package extract

import (
	"html"
	"regexp"
	"strings"
)

// markdown reads Markdown: headings become "# Title" lines (setext ones
// too), soft-wrapped lines join, list items and table rows stay one a
// line, code blocks stay as they are, and the inline syntax (links,
// images, emphasis, code spans, HTML tags, escapes) gives way to its
// words. A YAML or TOML front matter goes, but for its title.
func markdown(data []byte, label string) (Document, error) {
	s, err := decode(data, label)
	if err != nil {
		return Document{}, err
	}
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	s = htmlComment.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	var doc Document
	lines, doc.Title = frontMatter(lines)

	var (
		out   []string
		para  []string // the lines of the paragraph or list item being read
		fence string
		code  bool // the last line out was of an indented code block
	)
	flush := func() {
		if len(para) > 0 {
			out = append(out, inline(strings.Join(para, " ")))
			para = para[:0]
		}
	}
	for _, line := range lines {
		if fence != "" {
			out = append(out, strings.TrimRight(line, " \t"))
			if isFenceEnd(line, fence) {
				fence = ""
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
			out = append(out, "")
			continue
		case len(para) == 0 && (code || len(out) == 0 || out[len(out)-1] == "") && indentOf(line) >= 4:
			out = append(out, strings.TrimRight(line, " \t"))
			code = true
			continue
		}
		code = false
		if f := fenceStart(line); f != "" {
			flush()
			out = append(out, trimmed)
			fence = f
			continue
		}
		// Block quotes read as their content.
		for strings.HasPrefix(trimmed, ">") {
			trimmed = strings.TrimSpace(trimmed[1:])
		}
		if n, title, ok := atxHeading(trimmed); ok && indentOf(line) < 4 {
			flush()
			title = inline(title)
			out = append(out, "", strings.Repeat("#", n)+" "+title, "")
			if n == 1 && doc.Title == "" {
				doc.Title = title
			}
			continue
		}
		if len(para) > 0 && !isListItem(para[0]) && setextUnderline.MatchString(trimmed) {
			n := 1
			if trimmed[0] == '-' {
				n = 2
			}
			title := inline(strings.Join(para, " "))
			para = para[:0]
			out = append(out, "", strings.Repeat("#", n)+" "+title, "")
			if n == 1 && doc.Title == "" {
				doc.Title = title
			}
			continue
		}
		switch {
		case thematicBreak.MatchString(trimmed):
			flush()
			out = append(out, "")
		case referenceDefinition.MatchString(trimmed):
			flush()
		case tableDelimiter.MatchString(trimmed) && strings.Contains(trimmed, "|"):
			flush()
		case strings.HasPrefix(trimmed, "|"):
			flush()
			out = append(out, tableRow(trimmed))
		case isListItem(trimmed):
			flush()
			m := listItem.FindStringSubmatch(trimmed)
			marker := m[1]
			if marker == "*" || marker == "+" {
				marker = "-"
			}
			para = append(para, strings.Repeat(" ", min(indentOf(line), 8)/2*2)+marker+" "+m[2])
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	doc.Text = strings.Join(out, "\n")
	return doc, nil
}

var (
	htmlComment         = regexp.MustCompile(`(?s)<!--.*?-->`)
	setextUnderline     = regexp.MustCompile(`^(=+|-+)$`)
	thematicBreak       = regexp.MustCompile(`^([-*_])(\s*[-*_]){2,}$`)
	referenceDefinition = regexp.MustCompile(`^\[[^\]^]+\]:\s*\S+(\s+("[^"]*"|'[^']*'|\([^)]*\)))?$`)
	tableDelimiter      = regexp.MustCompile(`^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$`)
	listItem            = regexp.MustCompile(`^([-*+]|\d{1,9}[.)])\s+(.*)$`)
)

func isListItem(s string) bool { return listItem.MatchString(strings.TrimSpace(s)) }

// atxHeading parses "## Title ##".
func atxHeading(s string) (n int, title string, ok bool) {
	n = len(s) - len(strings.TrimLeft(s, "#"))
	if n < 1 || n > 6 || (len(s) > n && s[n] != ' ' && s[n] != '\t') {
		return 0, "", false
	}
	title = strings.TrimSpace(s[n:])
	if t := strings.TrimRight(title, "#"); t == "" || strings.HasSuffix(t, " ") || strings.HasSuffix(t, "\t") {
		title = strings.TrimSpace(t)
	}
	return n, title, title != ""
}

// tableRow turns "| a | b |" into "a | b".
func tableRow(s string) string {
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	for _, c := range splitUnescaped(s, '|') {
		cells = append(cells, inline(strings.TrimSpace(c)))
	}
	return strings.Join(cells, " | ")
}

// splitUnescaped splits s at sep where no backslash escapes it, and
// unescapes "\|" in the parts.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, `\`+string(sep), string(sep))
	}
	return parts
}

// frontMatter removes a YAML (---) or TOML (+++) front matter and returns
// its title.
func frontMatter(lines []string) (rest []string, title string) {
	if len(lines) == 0 {
		return lines, ""
	}
	open := strings.TrimSpace(lines[0])
	if open != "---" && open != "+++" {
		return lines, ""
	}
	for i := 1; i < len(lines) && i < 500; i++ {
		l := strings.TrimSpace(lines[i])
		if l != "" && l != open && l != "..." && !frontMatterLine.MatchString(lines[i]) {
			return lines, "" // a thematic break and text, not front matter
		}
		if l == open || (open == "---" && l == "...") {
			for _, m := range lines[1:i] {
				if k, v, ok := strings.Cut(m, ":"); ok && open == "---" && strings.TrimSpace(k) == "title" {
					title = strings.Trim(strings.TrimSpace(v), `"'`)
				} else if k, v, ok := strings.Cut(m, "="); ok && open == "+++" && strings.TrimSpace(k) == "title" {
					title = strings.Trim(strings.TrimSpace(v), `"'`)
				}
			}
			return lines[i+1:], title
		}
	}
	return lines, ""
}

// frontMatterLine matches the lines of YAML and TOML front matter: keys,
// indented values, list items, comments, tables.
var frontMatterLine = regexp.MustCompile(`^(?:[\w."'-]+\s*[:=]|\s|-|#|\[)`)

// inline strips the inline syntax of a line of Markdown. Code spans keep
// their content as written.
func inline(s string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			b.WriteString(inlineText(s))
			break
		}
		b.WriteString(inlineText(s[:i]))
		ticks := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
		rest := s[i+ticks:]
		end := closingTicks(rest, ticks)
		if end < 0 {
			b.WriteString(s[i : i+ticks])
			s = rest
			continue
		}
		code := rest[:end]
		if t := strings.TrimSpace(code); t != "" {
			code = t
		}
		b.WriteString(code)
		s = rest[end+ticks:]
	}
	return b.String()
}

// closingTicks returns where a run of exactly n backticks starts in s, or
// -1.
func closingTicks(s string, n int) int {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '`')
		if j < 0 {
			return -1
		}
		i += j
		run := len(s[i:]) - len(strings.TrimLeft(s[i:], "`"))
		if run == n {
			return i
		}
		i += run
	}
	return -1
}

// htmlTag matches the HTML tags that Markdown documents use, and not
// "List<String>".
var htmlTag = regexp.MustCompile(`(?i)</?(?:a|abbr|b|big|blockquote|br|button|center|cite|code|dd|del|details|div|dl|dt|em|figcaption|figure|font|h[1-6]|hr|i|img|input|ins|kbd|label|li|mark|ol|p|picture|pre|q|s|samp|section|small|source|span|strike|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul|var|video)(?:\s[^<>]*)?/?>`)

// inlineRules strip inline syntax; a rule runs only on text that holds
// its trigger, the character every match starts with or needs: most
// lines of prose hold none, and the regular expressions cost far more
// than the test.
var inlineRules = []struct {
	trigger string
	re      *regexp.Regexp
	with    string
}{
	{"![", regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`), "$1"},
	{"![", regexp.MustCompile(`!\[([^\]]*)\]\[[^\]]*\]`), "$1"},
	{"[", regexp.MustCompile(`\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)`), "$1"},
	{"[", regexp.MustCompile(`\[([^\]^][^\]]*)\]\[[^\]]*\]`), "$1"},
	{"[^", regexp.MustCompile(`\[\^[^\]\s]+\]:?`), ""},
	{"<", regexp.MustCompile(`<((?:https?|ftp|mailto):[^<>\s]+)>`), "$1"},
	{"<", regexp.MustCompile(`<([^<>\s@]+@[^<>\s]+)>`), "$1"},
	{"<", regexp.MustCompile(`(?i)<br\s*/?>`), " "},
	{"<", htmlTag, ""},
	{"", regexp.MustCompile(`(\*\*|__)(\S(?:.*?\S)?)(\*\*|__)`), "$2"},
	{"~~", regexp.MustCompile(`~~(\S(?:.*?\S)?)~~`), "$1"},
	{"*", regexp.MustCompile(`(^|[^\w*])\*(\S(?:[^*]*?\S)?)\*($|[^\w*])`), "$1$2$3"},
	{"_", regexp.MustCompile(`(^|[^\w_])_(\S(?:[^_]*?\S)?)_($|[^\w_])`), "$1$2$3"},
}

// escaped matches a backslash escape of ASCII punctuation.
var escaped = regexp.MustCompile("\\\\[!-/:-@\\[-`{-~]")

// inlineText strips the inline syntax of Markdown outside code spans.
// Escaped characters hide from the rules in the Private Use Area.
func inlineText(s string) string {
	if strings.IndexByte(s, '\\') >= 0 {
		s = escaped.ReplaceAllStringFunc(s, func(m string) string {
			return string(rune(privateUse + rune(m[1])))
		})
	}
	for _, r := range inlineRules {
		if r.trigger == "" && !strings.Contains(s, "**") && !strings.Contains(s, "__") ||
			r.trigger != "" && !strings.Contains(s, r.trigger) {
			continue
		}
		s = r.re.ReplaceAllString(s, r.with)
	}
	s = strings.Map(func(r rune) rune {
		if r > privateUse && r < privateUse+0x80 {
			return r - privateUse
		}
		return r
	}, s)
	return html.UnescapeString(s)
}

const privateUse = 0xE000

// indentOf returns the columns of white space that s starts with, a tab
// to the next multiple of four.
func indentOf(s string) int {
	n := 0
	for _, c := range s {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 4 - n%4
		default:
			return n
		}
	}
	return n
}

// fenceStart returns the fence that line opens ("```" or "~~~~" …), or "".
func fenceStart(line string) string {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 || len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return ""
	}
	n := len(s) - len(strings.TrimLeft(s, s[:1]))
	if n < 3 || (s[0] == '`' && strings.Contains(s[n:], "`")) {
		return ""
	}
	return s[:n]
}

// isFenceEnd reports whether line closes a code block opened by fence.
func isFenceEnd(line, fence string) bool {
	s := strings.TrimSpace(line)
	return len(s) >= len(fence) && strings.Trim(s, fence[:1]) == "" && indentOf(line) <= 3
}
