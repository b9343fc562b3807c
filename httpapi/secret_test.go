package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// noValue fails if the body shows the secret's value or has a value field
// on any object in it.
func noValue(t testing.TB, r *response, value string) {
	t.Helper()
	if value != "" && strings.Contains(string(r.body), value) {
		t.Fatalf("body shows the secret's value: %s", r.body)
	}
	noField(t, r, "value")
}

// TestSecretLifecycle sets, replaces, lists, reads and deletes secrets;
// no answer ever shows a value.
func TestSecretLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		base := "/workspaces/" + a.ws + "/secrets"
		const first, second = "crm-token-FIRST-0001", "crm-token-SECOND-0002"

		r := ts.must(201, "PUT", base+"/CRM_TOKEN", a.key, `{"value":"`+first+`"}`)
		noValue(t, r, first)
		created := r.json(t)
		if created["name"] != "CRM_TOKEN" || created["workspace_id"] != a.ws || created["created_at"] != created["updated_at"] {
			t.Fatalf("created %s", r.body)
		}
		if v, err := ts.srv.Secrets.ResolveSecret(t.Context(), a.ws, "CRM_TOKEN"); err != nil || v != first {
			t.Fatalf("resolved %q, %v", v, err)
		}

		time.Sleep(2 * time.Millisecond)
		r = ts.must(200, "PUT", base+"/CRM_TOKEN", a.key, `{"value":"`+second+`"}`)
		noValue(t, r, second)
		noValue(t, r, first)
		replaced := r.json(t)
		if replaced["created_at"] != created["created_at"] || replaced["updated_at"] == created["updated_at"] {
			t.Fatalf("replaced %s; created %v", r.body, created)
		}
		if v, _ := ts.srv.Secrets.ResolveSecret(t.Context(), a.ws, "CRM_TOKEN"); v != second {
			t.Fatalf("resolved %q after replacing", v)
		}
		r = ts.must(201, "PUT", base+"/API_KEY", a.key, `{"value":"api-key-THIRD-0003"}`)
		noValue(t, r, "api-key-THIRD-0003")

		r = ts.must(200, "GET", base, a.key, "")
		noValue(t, r, second)
		noValue(t, r, "api-key-THIRD-0003")
		var list struct {
			Data    []map[string]any `json:"data"`
			HasMore *bool            `json:"has_more"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Data) != 2 || list.Data[0]["name"] != "API_KEY" || list.Data[1]["name"] != "CRM_TOKEN" || list.HasMore == nil || *list.HasMore {
			t.Fatalf("list %s", r.body)
		}

		r = ts.must(200, "GET", base+"/CRM_TOKEN", a.key, "")
		noValue(t, r, second)
		if g := r.json(t); g["name"] != "CRM_TOKEN" || g["updated_at"] != replaced["updated_at"] {
			t.Fatalf("get %s", r.body)
		}

		ts.must(204, "DELETE", base+"/CRM_TOKEN", a.key, "")
		checkError(t, ts.do("GET", base+"/CRM_TOKEN", a.key, ""), 404, "not_found")
		checkError(t, ts.do("DELETE", base+"/CRM_TOKEN", a.key, ""), 404, "not_found")
		if _, err := ts.srv.Secrets.ResolveSecret(t.Context(), a.ws, "CRM_TOKEN"); hyponema.ErrorCode(err) != hyponema.ENOTFOUND {
			t.Fatalf("a deleted secret resolves: %v", err)
		}
		// Names that no secret can have are simply not found.
		checkError(t, ts.do("GET", base+"/not-a-name", a.key, ""), 404, "not_found")
		checkError(t, ts.do("DELETE", base+"/1ABC", a.key, ""), 404, "not_found")
		if n := len(ts.must(200, "GET", base, a.key, "").json(t)["data"].([]any)); n != 1 {
			t.Fatalf("%d secrets left, want 1", n)
		}
	})
}

// TestSecretValidation: bad names and values are 422 with the field's loc,
// and no error, huma's own included, repeats the value.
func TestSecretValidation(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ts := newTestServer(t, db)
	a := ts.newTenant("A")
	base := "/workspaces/" + a.ws + "/secrets/"
	const marker = "SECRETVALUE"

	tests := []struct {
		name   string
		path   string // the secret's name
		body   string
		status int
		kind   string
		loc    string // the first error's loc, as JSON
		typ    string
	}{
		{name: "starts with a digit", path: "1ABC", body: `{"value":"` + marker + `"}`, status: 422, loc: `["path","name"]`, typ: "invalid"},
		{name: "dash", path: "CRM-TOKEN", body: `{"value":"` + marker + `"}`, status: 422, loc: `["path","name"]`, typ: "invalid"},
		{name: "name too long", path: strings.Repeat("N", hyponema.MaxSecretNameLen+1), body: `{"value":"` + marker + `"}`, status: 422, loc: `["path","name"]`, typ: "invalid"},
		{name: "escaped space", path: "A%20B", body: `{"value":"` + marker + `"}`, status: 422, loc: `["path","name"]`, typ: "invalid"},
		{name: "no value", path: "TOKEN", body: `{}`, status: 422, loc: `["body","value"]`, typ: "missing"},
		{name: "empty value", path: "TOKEN", body: `{"value":""}`, status: 422, loc: `["body","value"]`, typ: "missing"},
		{name: "value too long", path: "TOKEN", body: `{"value":"` + strings.Repeat(marker, hyponema.MaxSecretValueLen/len(marker)+1) + `"}`, status: 422, loc: `["body","value"]`, typ: "too_long"},
		{name: "value too long in bytes", path: "TOKEN", body: `{"value":"` + marker + strings.Repeat("é", hyponema.MaxSecretValueLen/2) + `"}`, status: 422, loc: `["body","value"]`, typ: "too_long"},
		{name: "line feed", path: "TOKEN", body: `{"value":"` + marker + `\nmore"}`, status: 422, loc: `["body","value"]`, typ: "invalid"},
		{name: "carriage return", path: "TOKEN", body: `{"value":"` + marker + `\r"}`, status: 422, loc: `["body","value"]`, typ: "invalid"},
		{name: "NUL", path: "TOKEN", body: `{"value":"` + marker + `\u0000"}`, status: 422, loc: `["body","value"]`, typ: "invalid"},
		{name: "not a string", path: "TOKEN", body: `{"value":["` + marker + `"]}`, status: 422, loc: `["body","value"]`, typ: "type"},
		{name: "unknown field", path: "TOKEN", body: `{"value":"` + marker + `","name":"OTHER"}`, status: 422, loc: `["body","name"]`, typ: "extra_forbidden"},
		{name: "bad name and value", path: "1X", body: `{"value":""}`, status: 422, loc: `["path","name"]`, typ: "invalid"},
		{name: "malformed JSON", path: "TOKEN", body: `{"value":"` + marker + `" ` + marker + `}`, status: 400, kind: "malformed_json"},
		{name: "unterminated JSON", path: "TOKEN", body: `{"value":"` + marker, status: 400, kind: "malformed_json"},
		{name: "over 1 MiB", path: "TOKEN", body: `{"value":"` + strings.Repeat(marker, (1<<20)/len(marker)+1) + `"}`, status: 413, kind: "payload_too_large"},
		{name: "longest value", path: "LONGEST", body: `{"value":"` + strings.Repeat("v", hyponema.MaxSecretValueLen) + `"}`, status: 201},
		{name: "longest name", path: strings.Repeat("N", hyponema.MaxSecretNameLen), body: `{"value":"` + marker + `"}`, status: 201},
		{name: "tabs and unicode", path: "_x9", body: `{"value":"` + marker + ` \tünï"}`, status: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do("PUT", base+tt.path, a.key, tt.body)
			noValue(t, r, marker)
			if tt.status < 400 {
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				return
			}
			kind := tt.kind
			if kind == "" {
				kind = "validation_error"
			}
			m := checkError(t, r, tt.status, kind)
			if tt.loc == "" {
				return
			}
			errs, _ := m["errors"].([]any)
			if len(errs) == 0 {
				t.Fatalf("no field errors: %s", r.body)
			}
			e := errs[0].(map[string]any)
			if loc, _ := json.Marshal(e["loc"]); string(loc) != tt.loc || e["type"] != tt.typ {
				t.Fatalf("loc %s type %v, want %s %s: %s", loc, e["type"], tt.loc, tt.typ, r.body)
			}
		})
	}
	if n := len(ts.must(200, "GET", "/workspaces/"+a.ws+"/secrets", a.key, "").json(t)["data"].([]any)); n != 3 {
		t.Fatalf("%d secrets stored, want the 3 valid ones", n)
	}
}

// TestSecretsOfAnotherWorkspace: B's key finds none of A's secrets, under
// A's workspace or its own, and setting one of the same name in B's
// workspace leaves A's alone.
func TestSecretsOfAnotherWorkspace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a, b := ts.newTenant("A"), ts.newTenant("B")
		ts.must(201, "PUT", "/workspaces/"+a.ws+"/secrets/SHARED_NAME", a.key, `{"value":"a-value-AAAA"}`)
		ts.must(201, "PUT", "/workspaces/"+a.ws+"/secrets/A_ONLY", a.key, `{"value":"a-only-value"}`)

		for _, path := range []string{"/workspaces/" + a.ws + "/secrets/SHARED_NAME", "/workspaces/" + b.ws + "/secrets/SHARED_NAME",
			"/workspaces/" + b.ws + "/secrets/A_ONLY"} {
			checkError(t, ts.do("GET", path, b.key, ""), 404, "not_found")
			checkError(t, ts.do("DELETE", path, b.key, ""), 404, "not_found")
		}
		checkError(t, ts.do("GET", "/workspaces/"+a.ws+"/secrets", b.key, ""), 404, "not_found")
		checkError(t, ts.do("PUT", "/workspaces/"+a.ws+"/secrets/SHARED_NAME", b.key, `{"value":"b-value-BBBB"}`), 404, "not_found")
		if r := ts.must(200, "GET", "/workspaces/"+b.ws+"/secrets", b.key, ""); strings.Contains(string(r.body), "SHARED_NAME") || strings.Contains(string(r.body), "A_ONLY") {
			t.Fatalf("B lists A's secrets: %s", r.body)
		}

		// B's own secret of the same name is B's.
		ts.must(201, "PUT", "/workspaces/"+b.ws+"/secrets/SHARED_NAME", b.key, `{"value":"b-value-BBBB"}`)
		ctx := t.Context()
		if v, _ := ts.srv.Secrets.ResolveSecret(ctx, a.ws, "SHARED_NAME"); v != "a-value-AAAA" {
			t.Fatalf("A's secret is %q", v)
		}
		if v, _ := ts.srv.Secrets.ResolveSecret(ctx, b.ws, "SHARED_NAME"); v != "b-value-BBBB" {
			t.Fatalf("B's secret is %q", v)
		}
		ts.must(204, "DELETE", "/workspaces/"+b.ws+"/secrets/SHARED_NAME", b.key, "")
		ts.must(200, "GET", "/workspaces/"+a.ws+"/secrets/SHARED_NAME", a.key, "")
	})
}
