package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/knowledge/extract"
)

// MaxSourceBodyBytes is the largest request body that POST
// …/knowledge-base/{kb_id}/sources reads: a file of
// hyponema.MaxSourceFileSize with room for the multipart envelope and the
// other fields. Every other route keeps MaxBodyBytes.
const MaxSourceBodyBytes = hyponema.MaxSourceFileSize + 1<<20

// maxFormFieldBytes bounds a multipart form field other than the file.
const maxFormFieldBytes = 4 << 10

// KnowledgeBasePath is {ws} and the {kb_id} of one of its knowledge bases.
type KnowledgeBasePath struct {
	WorkspacePath
	KBID string `path:"kb_id" doc:"Knowledge base ID (kb_…)."`
}

// SourcePath is a knowledge base's path and the {source_id} of one of its
// sources.
type SourcePath struct {
	KnowledgeBasePath
	SourceID string `path:"source_id" doc:"Source ID (src_…)."`
}

// ChunkPath is a knowledge base's path and the {chunk_id} of one of its
// chunks.
type ChunkPath struct {
	KnowledgeBasePath
	ChunkID string `path:"chunk_id" doc:"Chunk ID (chk_…)."`
}

type knowledgeBaseCreateInput struct {
	WorkspacePath
	Body struct {
		Name        string `json:"name" maxLength:"200" doc:"A name for people."`
		Description string `json:"description,omitempty" maxLength:"2000" doc:"What the knowledge base holds."`
	}
}

func (s *Server) createKnowledgeBase(ctx context.Context, in *knowledgeBaseCreateInput) (*body[*hyponema.KnowledgeBase], error) {
	kb := &hyponema.KnowledgeBase{WorkspaceID: in.WS, Name: in.Body.Name, Description: in.Body.Description}
	if err := s.Knowledge.CreateKnowledgeBase(ctx, kb); err != nil {
		return nil, err
	}
	return reply(kb, nil)
}

type knowledgeBaseListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listKnowledgeBases(ctx context.Context, in *knowledgeBaseListInput) (*body[hyponema.Page[*hyponema.KnowledgeBase]], error) {
	return reply(s.Knowledge.ListKnowledgeBases(ctx, in.WS, in.options()))
}

func (s *Server) getKnowledgeBase(ctx context.Context, in *KnowledgeBasePath) (*body[*hyponema.KnowledgeBase], error) {
	return reply(s.Knowledge.FindKnowledgeBase(ctx, in.WS, in.KBID))
}

func (s *Server) deleteKnowledgeBase(ctx context.Context, in *KnowledgeBasePath) (*empty, error) {
	return &empty{}, s.Knowledge.DeleteKnowledgeBase(ctx, in.WS, in.KBID)
}

// createSourceRequest is the JSON form of a new source: text given inline
// or a URL to fetch. Files come as multipart/form-data instead.
type createSourceRequest struct {
	Type string `json:"type" enum:"text,url" doc:"text: the document is the text field; url: the document is fetched from url (through the egress guard). Upload a file as multipart/form-data instead."`
	Name string `json:"name,omitempty" maxLength:"200" doc:"A name for people: required for text; for url, default the URL."`
	Text string `json:"text,omitempty" doc:"For text: the document, 1 byte to 1 MiB of UTF-8 without NUL (longer is 422 on body.text)."`
	URL  string `json:"url,omitempty" maxLength:"2048" doc:"For url: an absolute http or https URL that reaches a public address."`
}

// sourceCreateInput takes the body as it came, JSON or multipart: huma
// neither reads nor checks it (the operation skips body validation), the
// handler does, by the Content-Type header.
type sourceCreateInput struct {
	KnowledgeBasePath
	RawBody     []byte `contentType:"multipart/form-data"`
	contentType string
}

// Resolve implements huma.Resolver: it keeps the request's Content-Type,
// which the OpenAPI document describes as the request body's media types
// rather than as a parameter.
func (in *sourceCreateInput) Resolve(ctx huma.Context) []error {
	in.contentType = ctx.Header("Content-Type")
	return nil
}

// sourceRequestBody documents the two media types of a new source. The
// JSON schema is also what createSource checks JSON bodies against.
func sourceRequestBody(registry huma.Registry) *huma.RequestBody {
	jsonSchema := registry.Schema(reflect.TypeOf(createSourceRequest{}), true, "")
	if s := registry.SchemaFromRef(jsonSchema.Ref); s != nil {
		s.PrecomputeMessages()
	}
	return &huma.RequestBody{
		Required:    true,
		Description: "A text or url source as JSON, or a file uploaded as multipart/form-data.",
		Content: map[string]*huma.MediaType{
			"application/json": {Schema: jsonSchema},
			"multipart/form-data": {
				Schema: &huma.Schema{
					Type: huma.TypeObject,
					Properties: map[string]*huma.Schema{
						"file": {Type: huma.TypeString, Format: "binary",
							Description: fmt.Sprintf("The document: text, Markdown, HTML, PDF or CSV, at most %d bytes (20 MiB; larger is 413). Its part's Content-Type, if any, becomes the source's content_type.", hyponema.MaxSourceFileSize)},
						"name": {Type: huma.TypeString, MaxLength: ptr(hyponema.MaxNameLen),
							Description: "A name for people; default the file's name."},
					},
					Required:             []string{"file"},
					AdditionalProperties: false,
				},
				Encoding: map[string]*huma.Encoding{
					"file": {ContentType: "text/plain, text/markdown, text/html, application/pdf, text/csv, application/octet-stream"},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// createSource stores a pending source; the store queues its ingestion in
// the same transaction. The knowledge base is looked up first, so that
// another workspace's is 404 whatever the body.
func (s *Server) createSource(ctx context.Context, in *sourceCreateInput) (*body[*hyponema.Source], error) {
	if _, err := s.Knowledge.FindKnowledgeBase(ctx, in.WS, in.KBID); err != nil {
		return nil, err
	}
	mediaType, params, err := mime.ParseMediaType(in.contentType)
	if in.contentType == "" {
		mediaType, err = "application/json", nil // as huma assumes for JSON routes
	}
	var (
		src     *hyponema.Source
		content []byte
	)
	switch {
	case err != nil:
		return nil, unsupportedSourceType()
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		src, content, err = s.jsonSource(in.RawBody)
	case mediaType == "multipart/form-data":
		src, content, err = fileSource(in.RawBody, params["boundary"])
	default:
		return nil, unsupportedSourceType()
	}
	if err != nil {
		return nil, err
	}
	src.WorkspaceID, src.KnowledgeBaseID = in.WS, in.KBID
	if err := s.Knowledge.CreateSource(ctx, src, content); err != nil {
		return nil, err
	}
	return reply(src, nil)
}

func unsupportedSourceType() error {
	return hyponema.Errorf(hyponema.EMEDIATYPE, "Send a text or url source as application/json, or upload a file as multipart/form-data.")
}

// jsonSource reads a JSON source strictly: malformed JSON is 400, and the
// body is checked against the documented schema (unknown fields, types,
// the enum) with huma's validator, so that its errors read as every other
// route's.
func (s *Server) jsonSource(raw []byte) (*hyponema.Source, []byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "A JSON request body is required.")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The request body is not valid JSON: %s.", err.Error())
	}
	registry := s.api.OpenAPI().Components.Schemas
	schema := registry.Schema(reflect.TypeOf(createSourceRequest{}), true, "")
	res := &huma.ValidateResult{}
	pb := huma.NewPathBuffer(make([]byte, 0, 64), 0)
	pb.Push("body")
	huma.Validate(registry, schema, pb, huma.ModeWriteToServer, v, res)
	if len(res.Errors) > 0 {
		return nil, nil, validationError(res.Errors)
	}
	var req createSourceRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The request body is not valid JSON: %s.", err.Error())
	}
	src := &hyponema.Source{Type: req.Type, Name: req.Name, URL: req.URL}
	var content []byte
	if req.Type == hyponema.SourceText {
		content = []byte(req.Text)
	} else if req.Text != "" {
		var v hyponema.Validation
		v.Add("invalid", "only text sources have text", "text")
		return nil, nil, v.Err()
	}
	if req.Type == hyponema.SourceText && req.URL != "" {
		var v hyponema.Validation
		v.Add("invalid", "only url sources have a url", "url")
		return nil, nil, v.Err()
	}
	return src, content, nil
}

// validationError turns huma's validation errors into the API's 422, as
// newHumaError does for the bodies that huma checks itself.
func validationError(errs []error) error {
	de := &hyponema.Error{Code: hyponema.EINVALID}
	for _, err := range errs {
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			de.Fields = append(de.Fields, fieldError(d.ErrorDetail()))
		} else {
			de.Fields = append(de.Fields, hyponema.FieldError{Loc: []string{"body"}, Msg: err.Error(), Type: "invalid"})
		}
	}
	de.Message = hyponema.FieldsDetail(de.Fields)
	return de
}

// fileSource reads a multipart/form-data upload: a "file" part, at most
// hyponema.MaxSourceFileSize bytes (413 past it), and an optional "name"
// field. Any other part is an unknown field (422).
func fileSource(raw []byte, boundary string) (*hyponema.Source, []byte, error) {
	if boundary == "" {
		return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The multipart/form-data Content-Type has no boundary.")
	}
	var (
		v        hyponema.Validation
		src      = &hyponema.Source{Type: hyponema.SourceFile}
		content  []byte
		hasFile  bool
		name     string
		filename string
	)
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The multipart body is malformed: %s.", err.Error())
		}
		switch field := p.FormName(); field {
		case "file":
			if hasFile {
				v.Add("invalid", "only one file per source", "file")
				continue
			}
			hasFile = true
			content, err = io.ReadAll(io.LimitReader(p, hyponema.MaxSourceFileSize+1))
			if err != nil {
				return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The multipart body is malformed: %s.", err.Error())
			}
			if len(content) > hyponema.MaxSourceFileSize {
				return nil, nil, hyponema.Errorf(hyponema.ETOOLARGE, "The file is larger than %s: the limit of an uploaded file.", mib(hyponema.MaxSourceFileSize))
			}
			filename = p.FileName()
			src.ContentType = strings.TrimSpace(p.Header.Get("Content-Type"))
		case "name":
			b, err := io.ReadAll(io.LimitReader(p, maxFormFieldBytes+1))
			if err != nil {
				return nil, nil, hyponema.Errorf(hyponema.EMALFORMED, "The multipart body is malformed: %s.", err.Error())
			}
			if len(b) > maxFormFieldBytes {
				v.Add("too_long", fmt.Sprintf("must be at most %d characters", hyponema.MaxNameLen), "name")
				continue
			}
			name = string(b)
		case "":
			v.Add("invalid", "every part needs a form-data name")
		default:
			v.Add("extra_forbidden", "is not a known field", field)
		}
	}
	if !hasFile {
		v.Add("missing", "is required", "file")
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	if found, ok := extract.Readable(content, src.ContentType, filename); !ok {
		return nil, nil, hyponema.Errorf(hyponema.EMEDIATYPE, "The file is %s, which cannot be read; the supported types are %s.", found, extract.Supported)
	}
	src.Name = name
	if strings.TrimSpace(name) == "" {
		src.Name = filename
	}
	return src, content, nil
}

// mib spells a size in MiB.
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

type sourceListInput struct {
	KnowledgeBasePath
	ListParams
}

func (s *Server) listSources(ctx context.Context, in *sourceListInput) (*body[hyponema.Page[*hyponema.Source]], error) {
	return reply(s.Knowledge.ListSources(ctx, in.WS, in.KBID, in.options()))
}

func (s *Server) getSource(ctx context.Context, in *SourcePath) (*body[*hyponema.Source], error) {
	return reply(s.Knowledge.FindSource(ctx, in.WS, in.KBID, in.SourceID))
}

func (s *Server) deleteSource(ctx context.Context, in *SourcePath) (*empty, error) {
	return &empty{}, s.Knowledge.DeleteSource(ctx, in.WS, in.KBID, in.SourceID)
}

// sourceActionInput is a source's path with an empty body, {} or none.
type sourceActionInput struct {
	SourcePath
	Body *struct{} `required:"false"`
}

// syncSource marks the source pending again; the store queues its
// ingestion. The source is looked up in its knowledge base first, since
// SetSourcePending knows only the workspace.
func (s *Server) syncSource(ctx context.Context, in *sourceActionInput) (*body[*hyponema.Source], error) {
	if _, err := s.Knowledge.FindSource(ctx, in.WS, in.KBID, in.SourceID); err != nil {
		return nil, err
	}
	if err := s.Knowledge.SetSourcePending(ctx, in.WS, in.SourceID); err != nil {
		return nil, err
	}
	return reply(s.Knowledge.FindSource(ctx, in.WS, in.KBID, in.SourceID))
}

type chunkListInput struct {
	KnowledgeBasePath
	SourceID string `query:"source_id" doc:"Only the chunks of this source (src_…); oldest first (order=asc) lists them in the source's order."`
	ListParams
}

func (s *Server) listChunks(ctx context.Context, in *chunkListInput) (*body[hyponema.Page[*hyponema.Chunk]], error) {
	return reply(s.Knowledge.ListChunks(ctx, in.WS, in.KBID, in.SourceID, in.options()))
}

func (s *Server) getChunk(ctx context.Context, in *ChunkPath) (*body[*hyponema.Chunk], error) {
	return reply(s.Knowledge.FindChunk(ctx, in.WS, in.KBID, in.ChunkID))
}

type knowledgeQueryInput struct {
	KnowledgeBasePath
	Body struct {
		Query string `json:"query" minLength:"1" maxLength:"2000" doc:"What to look for: a question or keywords, 1 to 2000 characters."`
		TopK  int    `json:"top_k,omitempty" minimum:"1" maximum:"50" default:"5" doc:"How many passages to return, 1 to 50; default 5."`
	}
}

// queryKnowledgeBase searches one knowledge base: by meaning too when an
// embedder is configured, else by words alone. An embedder that fails
// leaves the search lexical rather than failing it.
func (s *Server) queryKnowledgeBase(ctx context.Context, in *knowledgeQueryInput) (*body[hyponema.Page[hyponema.SearchHit]], error) {
	if _, err := s.Knowledge.FindKnowledgeBase(ctx, in.WS, in.KBID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Body.Query) == "" {
		var v hyponema.Validation
		v.Add("invalid", "must not be blank", "query")
		return nil, v.Err()
	}
	q := hyponema.SearchQuery{KnowledgeBaseIDs: []string{in.KBID}, Text: in.Body.Query, TopK: in.Body.TopK}
	if q.TopK == 0 {
		q.TopK = hyponema.DefaultTopK
	}
	if s.Embedder != nil {
		vecs, err := s.Embedder.Embed(ctx, []string{in.Body.Query})
		switch {
		case err != nil:
			loggerFromContext(ctx).WarnContext(ctx, "embedding a knowledge query failed; searching by words alone",
				"request_id", RequestIDFromContext(ctx), "knowledge_base_id", in.KBID, "error", err)
		case len(vecs) != 1 || len(vecs[0]) == 0:
			loggerFromContext(ctx).WarnContext(ctx, "the embedder answered no vector for a knowledge query; searching by words alone",
				"request_id", RequestIDFromContext(ctx), "knowledge_base_id", in.KBID, "vectors", len(vecs))
		default:
			q.Embedding = vecs[0]
		}
	}
	hits, err := s.Knowledge.Search(ctx, in.WS, q)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []hyponema.SearchHit{}
	}
	return reply(hyponema.Page[hyponema.SearchHit]{Data: hits}, nil)
}

type knowledgeAttachInput struct {
	KnowledgeBasePath
	Body struct {
		AgentID string `json:"agent_id" doc:"The agent (agt_…) whose draft retrieves from the knowledge base."`
	}
}

// attachKnowledgeBase adds the knowledge base to an agent's draft. The
// knowledge base is the path's object (404); an agent_id that names no
// agent of the workspace is a bad field (422), as tool_id is when a tool
// is attached to an agent.
func (s *Server) attachKnowledgeBase(ctx context.Context, in *knowledgeAttachInput) (*body[*hyponema.Agent], error) {
	if err := s.knowledgeAgent(ctx, in); err != nil {
		return nil, err
	}
	return reply(s.KnowledgeAgents.AttachKnowledgeBase(ctx, in.WS, in.KBID, in.Body.AgentID))
}

// detachKnowledgeBase removes the knowledge base from an agent's draft;
// 404 if it is not attached.
func (s *Server) detachKnowledgeBase(ctx context.Context, in *knowledgeAttachInput) (*body[*hyponema.Agent], error) {
	if err := s.knowledgeAgent(ctx, in); err != nil {
		return nil, err
	}
	return reply(s.KnowledgeAgents.DetachKnowledgeBase(ctx, in.WS, in.KBID, in.Body.AgentID))
}

// knowledgeAgent checks an attach or detach: the knowledge base exists
// (else 404), then the agent (else 422 on body.agent_id).
func (s *Server) knowledgeAgent(ctx context.Context, in *knowledgeAttachInput) error {
	if _, err := s.Knowledge.FindKnowledgeBase(ctx, in.WS, in.KBID); err != nil {
		return err
	}
	if _, err := s.Agents.FindAgent(ctx, in.WS, in.Body.AgentID); hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return &hyponema.Error{Code: hyponema.EINVALID, Message: "agent_id: no such agent",
			Fields: []hyponema.FieldError{{Loc: []string{"body", "agent_id"}, Msg: "no such agent", Type: "invalid"}}}
	} else if err != nil {
		return err
	}
	return nil
}

// bodyLimit is the largest body that withIdempotency may read for
// the request: the sources route takes uploads larger than MaxBodyBytes.
func bodyLimit(r *http.Request) int64 {
	if r.Method != http.MethodPost {
		return MaxBodyBytes
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 5 && parts[0] == "workspaces" && parts[2] == "knowledge-base" && parts[4] == "sources" {
		return MaxSourceBodyBytes
	}
	return MaxBodyBytes
}
