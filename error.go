// Package hyponema holds the domain of the Hyponema platform: the types that
// workspaces define (agents, personas, API keys …), their validation, the
// service interfaces that adapters implement, and the error codes that every
// layer speaks.
//
// Adapters live in their own packages (store, httpapi, …) and never import
// each other; cmd/hyponema wires them together.
package hyponema

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to exactly one HTTP status and error_kind in the
// HTTP layer; anything that is not an *Error is an internal error whose
// detail is logged and never shown.
const (
	EINVALID      = "invalid"       // validation failed (422)
	EMALFORMED    = "malformed"     // the request could not be parsed (400)
	EUNAUTHORIZED = "unauthorized"  // no or bad credential (401)
	EFORBIDDEN    = "forbidden"     // credential valid but not allowed (403)
	ENOTFOUND     = "not_found"     // missing, or another workspace's (404)
	ECONFLICT     = "conflict"      // state conflict (409)
	EIDEMPOTENCY  = "idempotency"   // idempotency key reused with another body (409)
	ESESSIONENDED = "session_ended" // the session is over (409)
	ETOOLARGE     = "too_large"     // body over the limit (413)
	EMEDIATYPE    = "media_type"    // unsupported content type (415)
	ERATELIMITED  = "rate_limited"  // slow down (429)
	EQUOTA        = "quota"         // plan quota exhausted (402)
	EPROVIDER     = "provider"      // upstream provider failed (502)
	ETIMEOUT      = "timeout"       // upstream provider timed out (504)
	EUNAVAILABLE  = "unavailable"   // dependency unavailable (503)
	EINTERNAL     = "internal"      // anything else (500)
)

// FieldError describes one invalid field of a request.
type FieldError struct {
	// Loc is the path to the field, e.g. ["body", "name"].
	Loc []string `json:"loc"`
	// Msg says what is wrong, for people.
	Msg string `json:"msg"`
	// Type is a stable, machine-readable reason: missing, extra_forbidden,
	// invalid, too_long, too_short, out_of_range, …
	Type string `json:"type"`
}

// Error is the error type of the domain. Code is for programs, Message for
// people; Fields lists each invalid field of a validation error.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// Error implements the error interface. It is not shown to users as is.
func (e *Error) Error() string {
	return fmt.Sprintf("hyponema error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for any other error: internal details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Validation collects field errors for a request body; Err turns them into
// one EINVALID *Error whose message names the first problem.
type Validation struct {
	Fields []FieldError
}

// Add records a problem with the body field at path (e.g. "name" or
// "metadata", "key").
func (v *Validation) Add(typ, msg string, path ...string) {
	v.Fields = append(v.Fields, FieldError{Loc: append([]string{"body"}, path...), Msg: msg, Type: typ})
}

// Err returns nil when nothing was added, otherwise an EINVALID *Error.
func (v *Validation) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: FieldsDetail(v.Fields), Fields: v.Fields}
}

// FieldsDetail renders field errors as one line for people:
// "name: is required; temperature: must be at most 2".
func FieldsDetail(fields []FieldError) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		loc := f.Loc
		if len(loc) > 0 && (loc[0] == "body" || loc[0] == "query" || loc[0] == "path" || loc[0] == "header") && len(loc) > 1 {
			loc = loc[1:]
		}
		parts = append(parts, strings.Join(loc, ".")+": "+f.Msg)
	}
	return strings.Join(parts, "; ")
}
