package clienttoken

import (
	"errors"
	"fmt"

	"github.com/hyponema/hyponema"
)

// Reason says why a token was refused, for programs and metrics. It is never
// the token itself, nor any part of it.
type Reason string

// Reasons of an *Error. Malformed, bad_signature, unknown_key, expired and
// not_yet_valid mean the caller is not authenticated (401); wrong_session and
// wrong_audience mean a genuine token used where it is not allowed (403);
// invalid_ttl is a bad request for a token (422).
const (
	ReasonMalformed     Reason = "malformed"      // not a client token, or a damaged one
	ReasonBadSignature  Reason = "bad_signature"  // tampered, or not signed with HS256
	ReasonUnknownKey    Reason = "unknown_key"    // signed with a key that was rotated out (or never ours)
	ReasonExpired       Reason = "expired"        // past exp, beyond the clock skew
	ReasonNotYetValid   Reason = "not_yet_valid"  // iat in the future, beyond the clock skew
	ReasonWrongSession  Reason = "wrong_session"  // valid, but for another session
	ReasonWrongAudience Reason = "wrong_audience" // valid, but not for these endpoints
	ReasonInvalidTTL    Reason = "invalid_ttl"    // Mint was asked for a lifetime out of bounds
)

// Error is why Mint or Verify refused. Its Error string names the reason
// only, so that it can be logged: it never holds the token.
//
// It wraps a *hyponema.Error with the code that the HTTP layer maps to a
// status (unauthorized, forbidden or invalid, the last with the field
// ttl_seconds), so hyponema.ErrorCode and hyponema.ErrorMessage work on it
// without the HTTP layer knowing this package's reasons.
type Error struct {
	Reason Reason
	err    *hyponema.Error
}

// Error implements the error interface.
func (e *Error) Error() string { return "clienttoken: " + string(e.Reason) }

// Unwrap returns the domain error, for hyponema.ErrorCode and errors.As.
func (e *Error) Unwrap() error { return e.err }

// ReasonOf returns the reason of the first *Error in err's chain, or "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// fail returns the *Error of a refused token. Messages stay generic where
// detail would only help an attacker (which check failed on a forgery), and
// are specific where it helps an honest client (expired: mint a new one).
func fail(r Reason) *Error {
	var code, msg string
	switch r {
	case ReasonExpired:
		code, msg = hyponema.EUNAUTHORIZED, "The client token has expired."
	case ReasonNotYetValid:
		code, msg = hyponema.EUNAUTHORIZED, "The client token is not valid yet."
	case ReasonWrongSession:
		code, msg = hyponema.EFORBIDDEN, "The client token is not for this session."
	case ReasonWrongAudience:
		code, msg = hyponema.EFORBIDDEN, "The client token is not allowed on this endpoint."
	default:
		code, msg = hyponema.EUNAUTHORIZED, "The client token is invalid."
	}
	return &Error{Reason: r, err: &hyponema.Error{Code: code, Message: msg}}
}

// invalidTTL is the 422 for a lifetime out of bounds, on the field that the
// HTTP layer's request names.
func invalidTTL() *Error {
	var v hyponema.Validation
	v.Add("out_of_range", fmt.Sprintf("must be between %d and %d seconds", int(MinTTL.Seconds()), int(MaxTTL.Seconds())), "ttl_seconds")
	var he *hyponema.Error
	errors.As(v.Err(), &he)
	return &Error{Reason: ReasonInvalidTTL, err: he}
}
