package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"

	"github.com/hyponema/hyponema"
)

// APIError is the one error shape of the API (api.md, "Errors").
type APIError struct {
	status    int
	Detail    string                `json:"detail" doc:"What went wrong, for people."`
	ErrorKind string                `json:"error_kind" enum:"validation_error,malformed_json,authentication_required,permission_denied,not_found,conflict,idempotency_conflict,session_ended,payload_too_large,unsupported_media_type,rate_limited,quota_exceeded,provider_error,provider_timeout,tool_error,internal_error,unavailable" doc:"What went wrong, for programs: a stable enum."`
	Errors    []hyponema.FieldError `json:"errors,omitempty" doc:"Each invalid field, for validation errors."`
	RequestID string                `json:"request_id" doc:"The request's X-Request-Id."`
}

// Error implements error.
func (e *APIError) Error() string { return e.ErrorKind + ": " + e.Detail }

// GetStatus implements huma.StatusError.
func (e *APIError) GetStatus() int { return e.status }

// errorKinds maps each domain code to its HTTP status and error_kind: the
// one table that decides what clients see.
var errorKinds = map[string]struct {
	status int
	kind   string
}{
	hyponema.EINVALID:      {http.StatusUnprocessableEntity, "validation_error"},
	hyponema.EMALFORMED:    {http.StatusBadRequest, "malformed_json"},
	hyponema.EUNAUTHORIZED: {http.StatusUnauthorized, "authentication_required"},
	hyponema.EFORBIDDEN:    {http.StatusForbidden, "permission_denied"},
	hyponema.ENOTFOUND:     {http.StatusNotFound, "not_found"},
	hyponema.ECONFLICT:     {http.StatusConflict, "conflict"},
	hyponema.EIDEMPOTENCY:  {http.StatusConflict, "idempotency_conflict"},
	hyponema.ESESSIONENDED: {http.StatusConflict, "session_ended"},
	hyponema.ETOOLARGE:     {http.StatusRequestEntityTooLarge, "payload_too_large"},
	hyponema.EMEDIATYPE:    {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	hyponema.ERATELIMITED:  {http.StatusTooManyRequests, "rate_limited"},
	hyponema.EQUOTA:        {http.StatusPaymentRequired, "quota_exceeded"},
	hyponema.EPROVIDER:     {http.StatusBadGateway, "provider_error"},
	hyponema.ETIMEOUT:      {http.StatusGatewayTimeout, "provider_timeout"},
	hyponema.EUNAVAILABLE:  {http.StatusServiceUnavailable, "unavailable"},
	hyponema.EINTERNAL:     {http.StatusInternalServerError, "internal_error"},
}

// statusCodes maps the statuses that huma itself produces (before a handler
// runs) back to domain codes.
var statusCodes = map[int]string{
	http.StatusBadRequest:            hyponema.EMALFORMED,
	http.StatusUnauthorized:          hyponema.EUNAUTHORIZED,
	http.StatusForbidden:             hyponema.EFORBIDDEN,
	http.StatusNotFound:              hyponema.ENOTFOUND,
	http.StatusConflict:              hyponema.ECONFLICT,
	http.StatusRequestEntityTooLarge: hyponema.ETOOLARGE,
	http.StatusUnsupportedMediaType:  hyponema.EMEDIATYPE,
	http.StatusUnprocessableEntity:   hyponema.EINVALID,
	http.StatusTooManyRequests:       hyponema.ERATELIMITED,
	http.StatusServiceUnavailable:    hyponema.EUNAVAILABLE,
}

// loggerFromContext returns the logger of the server handling the request,
// which receives the details of internal errors that clients never see.
func loggerFromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// newAPIError turns any error into the API's shape. Domain errors keep their
// code and message; anything else is an internal error, logged here with
// the request ID so an operator can find it, and shown as a generic message.
func newAPIError(ctx context.Context, err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.RequestID == "" {
			ae.RequestID = RequestIDFromContext(ctx)
		}
		return ae
	}
	code := hyponema.ErrorCode(err)
	k, ok := errorKinds[code]
	if !ok {
		code, k = hyponema.EINTERNAL, errorKinds[hyponema.EINTERNAL]
	}
	e := &APIError{status: k.status, ErrorKind: k.kind, Detail: hyponema.ErrorMessage(err), RequestID: RequestIDFromContext(ctx)}
	var de *hyponema.Error
	if errors.As(err, &de) {
		e.Errors = de.Fields
	}
	if code == hyponema.EINTERNAL {
		e.Detail = "Internal error. Quote the request_id if you contact support."
		loggerFromContext(ctx).ErrorContext(ctx, "internal error", "request_id", e.RequestID, "error", err)
	}
	return e
}

// newHumaError replaces huma.NewErrorWithContext, so that errors that huma
// makes itself (validation, body size, JSON syntax) and errors returned by
// handlers all come out in the API's shape.
func newHumaError(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	if status == 0 {
		// huma asks for an example value to document the error schema.
		return &APIError{}
	}
	var ctx context.Context = context.Background()
	if hctx != nil {
		ctx = hctx.Context()
	}
	if status == http.StatusInternalServerError {
		// A handler returned a non-StatusError: map the domain error.
		for _, err := range errs {
			if err != nil {
				return newAPIError(ctx, err)
			}
		}
	}
	code, ok := statusCodes[status]
	if !ok {
		code = hyponema.EINTERNAL
		if status < 500 && status >= 400 {
			code = hyponema.EINVALID
		}
	}
	de := &hyponema.Error{Code: code, Message: msg}
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			de.Fields = append(de.Fields, fieldError(d.ErrorDetail()))
		} else {
			de.Fields = append(de.Fields, hyponema.FieldError{Loc: []string{"body"}, Msg: err.Error(), Type: "invalid"})
		}
	}
	switch code {
	case hyponema.EMALFORMED:
		switch {
		case len(de.Fields) > 0:
			de.Message = "The request body is not valid JSON: " + de.Fields[0].Msg + "."
		case msg == "request body is required":
			de.Message = "A JSON request body is required."
		default:
			de.Message = "The request is malformed: " + msg + "."
		}
		de.Fields = nil
	case hyponema.EINVALID:
		if len(de.Fields) > 0 {
			de.Message = hyponema.FieldsDetail(de.Fields)
		}
	case hyponema.ETOOLARGE:
		limit := int64(MaxBodyBytes)
		if hctx != nil && hctx.Operation() != nil && hctx.Operation().MaxBodyBytes > 0 {
			limit = hctx.Operation().MaxBodyBytes
		}
		de.Message = "The request body is larger than " + mib(limit) + "."
		de.Fields = nil
	case hyponema.EMEDIATYPE:
		de.Message = "Send the request body as application/json."
		de.Fields = nil
	}
	if code == hyponema.EINTERNAL {
		return newAPIError(ctx, errors.New(msg))
	}
	return newAPIError(ctx, de)
}

// fieldError translates huma's validation detail ("body.items[3].name",
// "expected length <= 200") into the API's field error.
func fieldError(d *huma.ErrorDetail) hyponema.FieldError {
	loc := splitLocation(d.Location)
	msg, typ := d.Message, "invalid"
	switch {
	case strings.HasPrefix(msg, "expected required property "):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "expected required property "), " to be present")
		loc = append(loc, name)
		msg, typ = "is required", "missing"
	case msg == validation.MsgUnexpectedProperty:
		msg, typ = "is not a known field", "extra_forbidden"
	case strings.HasPrefix(msg, "expected length <="), strings.HasPrefix(msg, "expected array length <="),
		strings.HasPrefix(msg, "expected object with at most"):
		typ = "too_long"
	case strings.HasPrefix(msg, "expected length >="), strings.HasPrefix(msg, "expected array length >="):
		typ = "too_short"
	case strings.HasPrefix(msg, "expected number >"), strings.HasPrefix(msg, "expected number <"):
		typ = "out_of_range"
	case strings.HasPrefix(msg, "expected value to be one of"):
		typ = "enum"
	case msg == validation.MsgExpectedString, msg == validation.MsgExpectedNumber, msg == validation.MsgExpectedInteger,
		msg == validation.MsgExpectedBoolean, msg == validation.MsgExpectedObject, msg == validation.MsgExpectedArray:
		typ = "type"
	}
	return hyponema.FieldError{Loc: loc, Msg: msg, Type: typ}
}

// splitLocation turns "body.items[3].name" into ["body","items","3","name"].
func splitLocation(s string) []string {
	if s == "" {
		return []string{"body"}
	}
	var out []string
	for _, part := range strings.Split(s, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, part)
				break
			}
			if i > 0 {
				out = append(out, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				out = append(out, part[i:])
				break
			}
			out = append(out, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	return out
}

// writeError writes err in the API's shape from plain net/http code (the
// middleware that runs before huma).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := newAPIError(r.Context(), err)
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal error.","error_kind":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
