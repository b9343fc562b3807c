package extract

import (
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
)

func TestExtractCSV(t *testing.T) {
	tests := []struct {
		name, data, contentType, want string
	}{
		{
			"quotes and bom",
			"\xEF\xBB\xBFname,\"price, EUR\",note\r\n" +
				"Tea,3.50,\"Green, \"\"sencha\"\"\"\r\n" +
				"\"Coffee\nbeans\",12,\r\n" +
				",,\r\n" +
				"Cake,4,fresh,extra\r\n",
			"text/csv",
			"name: Tea; price, EUR: 3.50; note: Green, \"sencha\"\n\n" +
				"name: Coffee beans; price, EUR: 12\n\n" +
				"name: Cake; price, EUR: 4; note: fresh; column 4: extra",
		},
		{
			"semicolons",
			"Land;Hauptstadt\nÖsterreich;Wien\n",
			"",
			"Land: Österreich; Hauptstadt: Wien",
		},
		{
			"tabs",
			"a\tb\n1\t2\n",
			"text/tab-separated-values",
			"a: 1; b: 2",
		},
		{
			"empty header names",
			"id,,x\n1,2,3\n",
			"text/csv",
			"id: 1; column 2: 2; x: 3",
		},
		{
			"lazy quotes",
			"q,a\nHe said \"hi\",ok\n",
			"text/csv",
			"q: He said \"hi\"; a: ok",
		},
		{
			"only a header",
			"name,age\n",
			"text/csv",
			"name; age",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filename := "data.csv"
			if tt.contentType == "text/tab-separated-values" {
				filename = ""
			}
			doc := mustExtract(t, []byte(tt.data), tt.contentType, filename)
			if doc.Text != tt.want {
				t.Errorf("text\n%q\nwant\n%q", doc.Text, tt.want)
			}
		})
	}
}

func TestExtractCSVTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,text\n")
	for b.Len() < 2*hyponema.MaxSourceTextLen {
		b.WriteString("1,some words in a row\n")
	}
	_, err := Extract([]byte(b.String()), "text/csv", "")
	wantError(t, err, hyponema.ETOOLARGE, "1 MiB")
}
