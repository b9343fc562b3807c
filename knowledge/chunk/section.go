package chunk

import "strings"

// A section is the text under one heading, up to the next heading.
type section struct {
	heading string   // the heading path, "A > B"
	paras   []string // its paragraphs, trimmed, none empty
}

// sections cuts doc at its headings and each section into paragraphs at
// blank lines. Sections without text are left out.
func sections(doc string) []section {
	type level struct {
		n     int
		title string
	}
	var (
		out   []section
		path  []level
		cur   section
		para  []string
		fence string // the opening fence while inside a code block
	)
	endPara := func() {
		if p := strings.TrimSpace(strings.Join(para, "\n")); p != "" {
			cur.paras = append(cur.paras, p)
		}
		para = para[:0]
	}
	endSection := func() {
		endPara()
		if len(cur.paras) > 0 {
			out = append(out, cur)
		}
		cur = section{}
	}
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\r\n")
		if fence != "" {
			if isFenceEnd(line, fence) {
				fence = ""
			}
			if strings.TrimSpace(line) == "" {
				endPara()
			} else {
				para = append(para, strings.TrimRight(line, " \t\r"))
			}
			continue
		}
		if n, title, ok := heading(line); ok {
			endSection()
			for len(path) > 0 && path[len(path)-1].n >= n {
				path = path[:len(path)-1]
			}
			path = append(path, level{n, title})
			titles := make([]string, len(path))
			for i, l := range path {
				titles[i] = l.title
			}
			cur.heading = strings.Join(titles, " > ")
			continue
		}
		if strings.TrimSpace(line) == "" {
			endPara()
			continue
		}
		fence = fenceStart(line)
		para = append(para, strings.TrimRight(line, " \t\r"))
	}
	endSection()
	return out
}

// heading reports whether line is an ATX heading ("## Title ##") and
// returns its level and title. A heading needs a title.
func heading(line string) (n int, title string, ok bool) {
	s := line
	if indent := len(s) - len(strings.TrimLeft(s, " ")); indent > 3 {
		return 0, "", false
	}
	s = strings.TrimLeft(s, " ")
	n = len(s) - len(strings.TrimLeft(s, "#"))
	if n < 1 || n > 6 {
		return 0, "", false
	}
	s = s[n:]
	if s == "" || (s[0] != ' ' && s[0] != '\t') {
		return 0, "", false
	}
	s = strings.TrimSpace(s)
	// A closing sequence of '#' goes if a space precedes it.
	if t := strings.TrimRight(s, "#"); t != s && (t == "" || strings.HasSuffix(t, " ") || strings.HasSuffix(t, "\t")) {
		s = strings.TrimSpace(t)
	}
	// Titles are one line of single spaces, so that " > " stays readable.
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return 0, "", false
	}
	return n, s, true
}

// fenceStart returns the fence that line opens ("```" or "~~~~" …), or "".
func fenceStart(line string) string {
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 || len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return ""
	}
	n := len(s) - len(strings.TrimLeft(s, s[:1]))
	if n < 3 {
		return ""
	}
	if s[0] == '`' && strings.Contains(s[n:], "`") {
		return "" // inline code such as ```x```, not a fence
	}
	return s[:n]
}

// isFenceEnd reports whether line closes a code block opened by fence.
func isFenceEnd(line, fence string) bool {
	s := strings.TrimSpace(line)
	return len(s) >= len(fence) && strings.Trim(s, fence[:1]) == "" && len(line)-len(strings.TrimLeft(line, " ")) <= 3
}
