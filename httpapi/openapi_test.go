package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestOpenAPIDocument checks the served document: OpenAPI 3.1, every
// operation named, summarised and answering errors in the API's shape, and
// every operation but the probes behind the bearer key.
func TestOpenAPIDocument(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	r := ts.must(200, "GET", "/openapi.json", "", "")
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas         map[string]map[string]any `json:"schemas"`
			SecuritySchemes map[string]any            `json:"securitySchemes"`
		} `json:"components"`
		Security []map[string]any `json:"security"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	if _, ok := doc.Components.Schemas["APIError"]; !ok {
		t.Fatal("no error schema")
	}
	if _, ok := doc.Components.SecuritySchemes["apiKey"]; !ok || len(doc.Security) == 0 {
		t.Fatal("no bearer security scheme")
	}
	ops := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			ops++
			name := strings.ToUpper(method) + " " + path
			if op["operationId"] == "" || op["summary"] == "" {
				t.Errorf("%s: no operationId or summary", name)
			}
			public := path == "/healthz" || path == "/readyz"
			sec, hasSec := op["security"]
			if public && (!hasSec || len(sec.([]any)) != 0) {
				t.Errorf("%s: a probe must need no credential", name)
			}
			clientEndpoint := strings.HasPrefix(path, "/sessions/{id}") && path != "/sessions/{id}/client-tokens"
			if !public && !clientEndpoint && hasSec {
				t.Errorf("%s: overrides the document's security", name)
			}
			if clientEndpoint && !strings.Contains(fmt.Sprint(sec), "clientToken") {
				t.Errorf("%s: a client endpoint must document the client token", name)
			}
			b, _ := json.Marshal(op["responses"])
			if !strings.Contains(string(b), "#/components/schemas/APIError") {
				t.Errorf("%s: errors are not documented in the API's shape", name)
			}
		}
	}
	if ops < 28 {
		t.Fatalf("only %d operations documented", ops)
	}
}

var update = flag.Bool("update", false, "rewrite the committed openapi.json")

// TestOpenAPIGolden keeps the committed openapi.json equal to what the code
// generates, so that a change of the API shows in review next to api.md.
// After an intended change: go test ./httpapi -run TestOpenAPIGolden -update
func TestOpenAPIGolden(t *testing.T) {
	s := httpapi.NewServer(nil)
	got, err := json.MarshalIndent(s.OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "openapi.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("openapi.json is out of date: run go test ./httpapi -run TestOpenAPIGolden -update, and check api.md agrees")
	}
}
