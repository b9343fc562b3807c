package store_test

import (
	"encoding/json"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func httpTool(ws, name string) *hyponema.Tool {
	return &hyponema.Tool{WorkspaceID: ws, Name: name, Description: "Look up an order", Type: hyponema.ToolHTTP,
		Parameters: json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`),
		HTTP: &hyponema.HTTPToolConfig{Method: "get", URL: "https://api.example.com/orders/{{order_id}}",
			Headers: map[string]string{"Authorization": "Bearer {{secrets.CRM_TOKEN}}"}}}
}

func TestToolCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		tools := store.NewToolService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)

		tl := httpTool(ws.ID, "lookup_order")
		must(t, tools.CreateTool(ctx, tl))
		got, err := tools.FindTool(ctx, ws.ID, tl.ID)
		must(t, err)
		if got.HTTP.Method != "GET" || got.HTTP.TimeoutMS != hyponema.DefaultToolTimeoutMS ||
			got.HTTP.Headers["Authorization"] != "Bearer {{secrets.CRM_TOKEN}}" || string(got.Parameters) != string(tl.Parameters) {
			t.Errorf("found %+v %+v", got, got.HTTP)
		}
		_, err = tools.FindTool(ctx, other.ID, tl.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// The schema is kept as given, but for white space.
		lt := httpTool(ws.ID, "with_markup")
		lt.Parameters = json.RawMessage(`{ "type": "object", "description": "a <b> & c",
			"properties": {"order_id": {"type": "string"}} }`)
		must(t, tools.CreateTool(ctx, lt))
		got, err = tools.FindTool(ctx, ws.ID, lt.ID)
		must(t, err)
		if string(got.Parameters) != `{"type":"object","description":"a <b> & c","properties":{"order_id":{"type":"string"}}}` {
			t.Errorf("stored schema %s", got.Parameters)
		}
		must(t, tools.DeleteTool(ctx, ws.ID, lt.ID))

		// Same name in the workspace: conflict; in another workspace: fine.
		wantCode(t, tools.CreateTool(ctx, httpTool(ws.ID, "lookup_order")), hyponema.ECONFLICT)
		must(t, tools.CreateTool(ctx, httpTool(other.ID, "lookup_order")))

		// Validation.
		bad := httpTool(ws.ID, "bad name!")
		bad.Parameters = json.RawMessage(`{"type":"string"}`)
		bad.HTTP.URL = "ftp://x"
		err = tools.CreateTool(ctx, bad)
		wantField(t, err, "invalid", "body", "name")
		wantField(t, err, "invalid", "body", "parameters")
		wantField(t, err, "invalid", "body", "http", "url")
		ref := httpTool(ws.ID, "ref")
		ref.Parameters = json.RawMessage(`{"type":"object","properties":{"x":{"$ref":"https://example.com/s.json"}}}`)
		wantField(t, tools.CreateTool(ctx, ref), "invalid", "body", "parameters")
		mcp := &hyponema.Tool{WorkspaceID: ws.ID, Name: "everything", Type: hyponema.ToolMCP,
			MCP: &hyponema.MCPToolConfig{URL: "https://mcp.example.com/mcp", ToolNames: []string{"echo"}}}
		must(t, tools.CreateTool(ctx, mcp))
		if mcp.MCP.Transport != "streamable_http" || string(mcp.Parameters) == "" {
			t.Errorf("mcp defaults %+v", mcp)
		}

		// Patch.
		name, desc := "find_order", "Find an order by ID"
		got, err = tools.UpdateTool(ctx, ws.ID, tl.ID, hyponema.ToolPatch{Name: &name, Description: &desc})
		must(t, err)
		if got.Name != name || got.Description != desc || got.HTTP.URL != tl.HTTP.URL {
			t.Errorf("patched %+v", got)
		}
		taken := "everything"
		_, err = tools.UpdateTool(ctx, ws.ID, tl.ID, hyponema.ToolPatch{Name: &taken})
		wantCode(t, err, hyponema.ECONFLICT)
		_, err = tools.UpdateTool(ctx, other.ID, tl.ID, hyponema.ToolPatch{Name: &name})
		wantCode(t, err, hyponema.ENOTFOUND)

		p, err := tools.ListTools(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(p.Data) != 2 {
			t.Errorf("listed %d tools", len(p.Data))
		}
		wantCode(t, tools.DeleteTool(ctx, other.ID, tl.ID), hyponema.ENOTFOUND)
		must(t, tools.DeleteTool(ctx, ws.ID, tl.ID))
		_, err = tools.FindTool(ctx, ws.ID, tl.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

// TestToolAttachments: attachments are the draft's; a version captures the
// tools as they were, and keeps them through later edits and deletion.
func TestToolAttachments(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		tools, agents := store.NewToolService(db), store.NewAgentService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{})
		lookup, second := httpTool(ws.ID, "lookup_order"), httpTool(ws.ID, "cancel_order")
		must(t, tools.CreateTool(ctx, lookup))
		must(t, tools.CreateTool(ctx, second))
		foreign := httpTool(other.ID, "foreign")
		must(t, tools.CreateTool(ctx, foreign))

		must(t, tools.AttachTool(ctx, ws.ID, a.ID, lookup.ID))
		must(t, tools.AttachTool(ctx, ws.ID, a.ID, lookup.ID)) // again: a no-op
		must(t, tools.AttachTool(ctx, ws.ID, a.ID, second.ID))
		wantCode(t, tools.AttachTool(ctx, ws.ID, a.ID, foreign.ID), hyponema.ENOTFOUND)
		wantCode(t, tools.AttachTool(ctx, other.ID, a.ID, foreign.ID), hyponema.ENOTFOUND)
		wantCode(t, tools.AttachTool(ctx, ws.ID, "agt_missing", lookup.ID), hyponema.ENOTFOUND)
		_, err := tools.ListAgentTools(ctx, other.ID, a.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		attached, err := tools.ListAgentTools(ctx, ws.ID, a.ID)
		must(t, err)
		if len(attached) != 2 || attached[0].ID != lookup.ID || attached[1].ID != second.ID {
			t.Fatalf("attached %v", attached)
		}

		v1, err := agents.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		if len(v1.Tools) != 2 || v1.Tools[0].Name != "lookup_order" {
			t.Fatalf("version tools %+v", v1.Tools)
		}
		// Later edits and deletion do not change the version's copy.
		newName := "lookup"
		_, err = tools.UpdateTool(ctx, ws.ID, lookup.ID, hyponema.ToolPatch{Name: &newName})
		must(t, err)
		must(t, tools.DeleteTool(ctx, ws.ID, second.ID))
		got, err := agents.FindAgentVersion(ctx, ws.ID, a.ID, v1.ID)
		must(t, err)
		if len(got.Tools) != 2 || got.Tools[0].Name != "lookup_order" || got.Tools[0].HTTP == nil {
			t.Errorf("version after edits %+v", got.Tools)
		}
		attached, _ = tools.ListAgentTools(ctx, ws.ID, a.ID)
		if len(attached) != 1 || attached[0].Name != "lookup" {
			t.Errorf("draft after edits %v", attached)
		}
		must(t, tools.DetachTool(ctx, ws.ID, a.ID, lookup.ID))
		wantCode(t, tools.DetachTool(ctx, ws.ID, a.ID, lookup.ID), hyponema.ENOTFOUND)
		v2, err := agents.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		if len(v2.Tools) != 0 {
			t.Errorf("v2 tools %v", v2.Tools)
		}
	})
}
