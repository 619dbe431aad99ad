package aigw

/*
#include <stdlib.h>
#include "aigw.h"

// Defined in callbacks.c: a C-allocated callbacks struct whose userdata is
// a runtime/cgo.Handle, and its release.
aigw_stream_callbacks *aigw_go_callbacks_new(uintptr_t handle);
void aigw_go_callbacks_free(aigw_stream_callbacks *cb);
*/
import "C"

import (
	"bytes"
	"context"
	"mime"
	"runtime/cgo"
	"sync"
)

// Event is one Server-Sent Event of a streamed response.
type Event struct {
	// Event is the event type; "message" when the stream named none.
	Event string
	// Data is the event's data lines joined with "\n".
	Data string
	// ID is the last event id the stream set (carried over to later
	// events); "" when it set none.
	ID string
}

// streamState is the Go side of one Stream call, reached from the C
// callbacks through a cgo.Handle.
type streamState struct {
	onEvent  func(Event) error
	head     *Response    // from on_response
	sse      bool         // the body is text/event-stream
	body     bytes.Buffer // the body when it is not an event stream
	err      error        // the callback's error that stopped the transfer
	panic    any          // a panic in the callback, re-raised after the call
	panicked bool
	mu       sync.Mutex // the callbacks run one at a time; this guards against misuse only
}

// fail records why a callback stopped the transfer and returns the non-zero
// value that tells the library to stop.
func (s *streamState) fail(err error) C.int {
	if s.err == nil {
		s.err = err
	}
	return 1
}

// call runs f, turning a panic into a recorded failure: a Go panic must not
// unwind through the library's C frames.
func (s *streamState) call(f func() error) (rc C.int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			s.panic, s.panicked = p, true
			rc = 1
		}
	}()
	if s.err != nil || s.panicked {
		return 1
	}
	if err := f(); err != nil {
		return s.fail(err)
	}
	return 0
}

// Stream sends a request and delivers the serving response's events to
// onEvent as they arrive, on the calling goroutine, one at a time. It
// returns the response head (status, step, headers) once the stream has
// ended.
//
// Fallback and retries happen before anything is delivered: the stream
// commits to a step when its response is 2xx and its first event is not an
// error. A body that is not text/event-stream (a plain JSON answer, or the
// last step's error answer when every step failed) produces no events; it
// is returned in Response.Body.
//
// If onEvent returns an error, the transfer stops and Stream returns an
// *Error with StatusAborted wrapping it. If ctx is done, Stream returns an
// *Error with StatusCancelled wrapping ctx.Err(), and onEvent is not called
// after that. A broken or stalled stream after commit is
// StatusStreamInterrupted. A panic in onEvent stops the transfer and is
// re-raised by Stream. onEvent must not call Close on this gateway (it may
// send other requests).
func (g *Gateway) Stream(ctx context.Context, req *Request, onEvent func(Event) error) (*Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	creq, stop, finish, err := g.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	defer finish()

	state := &streamState{onEvent: onEvent}
	h := cgo.NewHandle(state)
	// The callbacks struct holds the handle, so it lives in C memory.
	cb := C.aigw_go_callbacks_new(C.uintptr_t(h))
	if cb == nil {
		stop()
		h.Delete()
		return nil, &Error{Status: StatusPanic, Message: "out of memory allocating the stream callbacks"}
	}

	var out *C.aigw_response
	var cerr *C.aigw_error
	st := C.aigw_send_stream(g.gw, creq, cb, &out, &cerr)
	stop()
	C.aigw_go_callbacks_free(cb)
	h.Delete()

	if state.panicked {
		if out != nil && st == C.AIGW_OK {
			C.aigw_response_free(out)
		}
		C.aigw_error_free(cerr)
		panic(state.panic)
	}
	if st != C.AIGW_OK {
		e := callError(ctx, st, cerr)
		if e.Status == StatusAborted && state.err != nil {
			e.Err = state.err
		}
		return nil, e
	}
	defer C.aigw_response_free(out)
	resp := convertHead(out)
	if !state.sse && state.body.Len() > 0 {
		resp.Body = state.body.Bytes()
	}
	return resp, nil
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}
