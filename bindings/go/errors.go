package aigw

/*
#include "aigw.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Status is the library's status code (aigw_status in aigw.h). StatusOK is
// zero; every other value is a failure whose meaning is fixed by the ABI.
//
// A Status is also an error value, so the constants serve as sentinels:
//
//	if errors.Is(err, aigw.StatusCancelled) { ... }
//
// matches any *Error carrying that status.
type Status int

// The status codes, mirroring AIGW_* in aigw.h.
const (
	StatusOK                Status = C.AIGW_OK                     // success
	StatusNullArgument      Status = C.AIGW_ERR_NULL_ARGUMENT      // a required pointer was NULL
	StatusInvalidArgument   Status = C.AIGW_ERR_INVALID_ARGUMENT   // bad UTF-8, bad header name, value out of range
	StatusInvalidConfig     Status = C.AIGW_ERR_INVALID_CONFIG     // the gateway config JSON is malformed or inconsistent
	StatusInvalidRequest    Status = C.AIGW_ERR_INVALID_REQUEST    // bad path, malformed Universal body, bad cf-aig-* value
	StatusUnknownProvider   Status = C.AIGW_ERR_UNKNOWN_PROVIDER   // the provider slug is not built in and not configured
	StatusConnect           Status = C.AIGW_ERR_CONNECT            // no upstream could be reached
	StatusTimeout           Status = C.AIGW_ERR_TIMEOUT            // every attempt timed out
	StatusTLS               Status = C.AIGW_ERR_TLS                // TLS handshake or certificate failure
	StatusProtocol          Status = C.AIGW_ERR_PROTOCOL           // the upstream spoke malformed HTTP
	StatusRateLimited       Status = C.AIGW_ERR_RATE_LIMITED       // the gateway's own rate limit refused the request
	StatusBodyTooLarge      Status = C.AIGW_ERR_BODY_TOO_LARGE     // a body is over the configured limit
	StatusAborted           Status = C.AIGW_ERR_ABORTED            // a stream callback returned an error
	StatusCancelled         Status = C.AIGW_ERR_CANCELLED          // the context was cancelled
	StatusStreamInterrupted Status = C.AIGW_ERR_STREAM_INTERRUPTED // a stream broke after data was delivered
	StatusPanic             Status = C.AIGW_ERR_PANIC              // an internal bug in the library
)

// String returns the library's short description of the status
// (aigw_status_str).
func (s Status) String() string {
	return C.GoString(C.aigw_status_str(C.int(s)))
}

// Error makes a Status usable as a sentinel error value.
func (s Status) Error() string { return "aigw: " + s.String() }

// Error is what a failed call returns: the library's status, its message
// (naming the step, provider, host or timeout that failed; never
// credentials) and, where one exists, the Go error behind it: ctx.Err() for
// StatusCancelled, the callback's error for StatusAborted.
type Error struct {
	Status  Status
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := "aigw: " + e.Status.String()
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying Go error (context.Canceled,
// context.DeadlineExceeded, a callback's error), or nil.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's Status, so that
// errors.Is(err, aigw.StatusTimeout) works.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// StatusOf returns the Status of err: StatusOK for nil, the status of an
// *Error (or a Status) in err's chain, and -1 for any other error.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var s Status
	if errors.As(err, &s) {
		return s
	}
	return -1
}

// ErrClosed is returned by calls on a Gateway after Close.
var ErrClosed = errors.New("aigw: gateway is closed")

// takeError converts (and frees) a C error.
func takeError(st C.enum_aigw_status, cerr *C.aigw_error) *Error {
	e := &Error{Status: Status(st)}
	if cerr != nil {
		e.Message = C.GoString(C.aigw_error_message(cerr))
		C.aigw_error_free(cerr)
	}
	return e
}

func invalidArgument(format string, args ...any) *Error {
	return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(format, args...)}
}
