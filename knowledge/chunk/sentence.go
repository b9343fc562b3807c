package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sentences cuts a paragraph into sentences. A sentence ends at '.', '!'
// or '?' (and any closing quotes or brackets after it) followed by white
// space and then something other than a lower-case letter, unless the
// word is a known abbreviation, an initial ("J."), or the number of an
// ordered list item at the start of a line. The CJK full stops end a
// sentence with or without space after them. Decimals ("3.5") never end
// one, as no space follows their point. Each sentence's sep is "\n" when
// the white space before it held a line break, " " otherwise, and "" for
// the first sentence or one that follows a CJK stop directly.
func sentences(p string) []atom {
	var out []atom
	start, sep := 0, ""
	cut := func(end, next int) {
		if t := strings.TrimSpace(p[start:end]); t != "" {
			out = append(out, atom{text: t, sep: sep})
		}
		gap := p[end:next]
		switch {
		case strings.Contains(gap, "\n"):
			sep = "\n"
		case gap != "":
			sep = " "
		default:
			sep = ""
		}
		start = next
	}
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		i += n
		var cjk bool
		switch r {
		case '.', '!', '?':
		case '。', '！', '？':
			cjk = true
		default:
			continue
		}
		end := i + closers(p[i:])
		spaceEnd := end + len(p[end:]) - len(strings.TrimLeftFunc(p[end:], unicode.IsSpace))
		if spaceEnd == len(p) {
			break // the paragraph's end
		}
		if !cjk {
			if spaceEnd == end {
				continue // "3.5", "example.com", "?!" inside a word
			}
			next, _ := utf8.DecodeRuneInString(p[spaceEnd:])
			if unicode.IsLower(next) || (r == '.' && !endsSentence(p[start:i-n], p[:i-n], next)) {
				i = end
				continue
			}
		}
		cut(end, spaceEnd)
		i = spaceEnd
	}
	if t := strings.TrimSpace(p[start:]); t != "" {
		out = append(out, atom{text: t, sep: sep})
	}
	return out
}

// closers returns how many bytes of closing quotes and brackets s starts
// with.
func closers(s string) int {
	return len(s) - len(strings.TrimLeft(s, `"')]}»”’」』）`))
}

// abbreviations end with a point that rarely ends a sentence.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true, "jr": true,
	"st": true, "vs": true, "inc": true, "ltd": true, "co": true, "corp": true,
	"fig": true, "approx": true, "cf": true, "al": true, "vol": true, "p": true, "pp": true,
	"ca": true, "eg": true, "ie": true, "dept": true, "mt": true, "ft": true, "jan": true,
	"feb": true, "apr": true, "jun": true, "jul": true, "aug": true, "sep": true, "sept": true,
	"oct": true, "nov": true, "dec": true,
}

// numberAbbreviations are abbreviations only before a number ("No. 5"):
// elsewhere they are words that may end a sentence ("I said no.").
var numberAbbreviations = map[string]bool{"no": true, "nos": true, "nr": true}

// endsSentence reports whether the point after before ends a sentence.
// before is the sentence so far without the point; upto is the whole
// paragraph up to the point; next is the first character after the white
// space that follows.
func endsSentence(before, upto string, next rune) bool {
	word := before[strings.LastIndexFunc(before, unicode.IsSpace)+1:]
	word = strings.TrimLeft(word, `"'([{«“‘`)
	if word == "" {
		return true
	}
	if initials(word) {
		return false
	}
	if len(word) <= 6 {
		lower := strings.ToLower(word)
		if abbreviations[lower] || (numberAbbreviations[lower] && unicode.IsDigit(next)) {
			return false
		}
	}
	// "1." opening a line is an item of an ordered list.
	if strings.Trim(word, "0123456789") == "" {
		line := upto[strings.LastIndex(upto, "\n")+1:]
		if strings.TrimSpace(line) == word {
			return false
		}
	}
	return true
}

// initials reports whether word is single letters between points: "J",
// "e.g", "U.S".
func initials(word string) bool {
	letter := true // a letter is expected next
	for _, r := range word {
		if letter && !unicode.IsLetter(r) || !letter && r != '.' {
			return false
		}
		letter = !letter
	}
	return !letter
}
