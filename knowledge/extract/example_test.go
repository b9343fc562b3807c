package extract_test

import (
	"fmt"

	"github.com/hyponema/hyponema/knowledge/chunk"
	"github.com/hyponema/hyponema/knowledge/extract"
)

// Extract a page, then cut its text into passages that know their
// headings.
func Example() {
	page := `<html><head><title>Help</title></head><body>
<nav>Home | Pricing</nav>
<h1>Refunds</h1><p>Ask within 30 days.</p>
<h2>Cards</h2><p>Refunds go back to the card. They take 3.5 days.</p>
</body></html>`
	doc, err := extract.Extract([]byte(page), "text/html; charset=utf-8", "help.html")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Title)
	for _, p := range chunk.Split(doc.Text, chunk.Options{}) {
		fmt.Printf("%s: %s\n", p.Heading, p.Text)
	}
	// Output:
	// Help
	// Refunds: Ask within 30 days.
	// Refunds > Cards: Refunds go back to the card. They take 3.5 days.
}
