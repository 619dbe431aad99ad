// Package aigw is the Go binding of aigw, an AI gateway that runs inside the
// calling process: one endpoint per provider, a Universal Endpoint that
// falls back from one provider to the next, retries, timeouts and streaming,
// with no network hop to a third party.
//
//	gw, err := aigw.New(`{"providers":{"openai":{"base_url":"http://127.0.0.1:9000/v1"}}}`)
//	if err != nil { ... }
//	defer gw.Close()
//	resp, err := gw.Send(ctx, &aigw.Request{
//		Method: "POST",
//		Path:   "openai/chat/completions",
//		Header: http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}},
//		Body:   []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`),
//	})
//
// A Gateway is safe for concurrent use by many goroutines, which share its
// connection pool. Cancelling a call's context makes it return within about
// 100 ms with an *Error of status StatusCancelled that wraps ctx.Err().
//
// The package is cgo over libaigw's C API (include/aigw.h); every C object
// is freed before a call returns, and no Go pointer is kept in C memory.
package aigw

/*
#include <stdlib.h>
#include "aigw.h"
*/
import "C"

import (
	"context"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// Version returns the version of the loaded library (aigw_version), e.g.
// "0.1.0".
func Version() string { return C.GoString(C.aigw_version()) }

// HeaderVersion is the version of the aigw.h this package was compiled
// against; it equals Version() when header and library match.
const HeaderVersion = C.AIGW_VERSION

// Gateway is a configured gateway: providers, defaults and a pool of
// upstream connections. It is safe for concurrent use. Close releases it.
type Gateway struct {
	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // calls in flight
	gw     *C.aigw_gateway
}

// New creates a gateway from a JSON config ("" or "{}" for the defaults;
// README lists the keys). Unknown keys and out-of-range values give an
// *Error with StatusInvalidConfig naming the key.
func New(configJSON string) (*Gateway, error) {
	if strings.IndexByte(configJSON, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidConfig, Message: "config contains a NUL byte"}
	}
	cfg := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cfg))
	var gw *C.aigw_gateway
	var cerr *C.aigw_error
	if st := C.aigw_gateway_new(cfg, &gw, &cerr); st != C.AIGW_OK {
		return nil, takeError(st, cerr)
	}
	g := &Gateway{gw: gw}
	// A Gateway dropped without Close is freed by the garbage collector.
	runtime.SetFinalizer(g, (*Gateway).Close)
	return g, nil
}

// Close waits for the calls in flight to return, then frees the gateway and
// its pooled connections. Later calls return ErrClosed. Closing twice is a
// no-op. Close must not be called from a stream callback of this gateway.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	g.active.Wait()
	C.aigw_gateway_free(g.gw)
	g.gw = nil
	runtime.SetFinalizer(g, nil)
	return nil
}

// acquire registers a call in flight; the caller must call g.active.Done.
func (g *Gateway) acquire() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.active.Add(1)
	return nil
}

// Request is a request to send through a gateway.
type Request struct {
	// Method is the HTTP method; "" means POST.
	Method string
	// Path is what follows the gateway root in the hosted gateway's URL:
	// "" or "/" for the Universal Endpoint (POST, Body a JSON array of
	// steps), or "<provider>/<endpoint>[?query]" such as
	// "openai/chat/completions".
	Path string
	// Header is forwarded upstream, except the cf-aig-* controls, which the
	// gateway reads (cf-aig-request-timeout, cf-aig-max-attempts, ...).
	Header http.Header
	// Body is sent as is.
	Body []byte
}

// Response is an upstream HTTP response. A non-2xx status is a Response,
// not an error: errors mean no response was obtained.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Step is the index of the Universal step that served the response
	// (also the cf-aig-step header); 0 for provider endpoints.
	Step int
	// Header holds the response headers (keys canonicalized).
	Header http.Header
	// Body is the whole body for Send. For Stream it is empty for an
	// event stream, and the whole body otherwise (for example a provider's
	// JSON error answer when every step failed).
	Body []byte
}

// newRequest builds the C request; the caller frees it.
func newRequest(req *Request) (*C.aigw_request, error) {
	if req == nil {
		return nil, &Error{Status: StatusNullArgument, Message: "nil *Request"}
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	if strings.IndexByte(method, 0) >= 0 || strings.IndexByte(req.Path, 0) >= 0 {
		return nil, invalidArgument("method or path contains a NUL byte")
	}
	cm := C.CString(method)
	defer C.free(unsafe.Pointer(cm))
	cp := C.CString(req.Path)
	defer C.free(unsafe.Pointer(cp))
	var creq *C.aigw_request
	if st := C.aigw_request_new(cm, cp, &creq); st != C.AIGW_OK {
		return nil, &Error{Status: Status(st), Message: "creating the request"}
	}
	ok := false
	defer func() {
		if !ok {
			C.aigw_request_free(creq)
		}
	}()

	// Sorted for a deterministic order on the wire.
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, value := range req.Header[name] {
			if err := setHeader(creq, name, value); err != nil {
				return nil, err
			}
		}
	}
	if len(req.Body) > 0 {
		// aigw_request_set_body copies the bytes during the call.
		st := C.aigw_request_set_body(creq, (*C.uint8_t)(unsafe.Pointer(&req.Body[0])), C.size_t(len(req.Body)))
		if st != C.AIGW_OK {
			return nil, &Error{Status: Status(st), Message: "setting the body"}
		}
	}
	ok = true
	return creq, nil
}

func setHeader(creq *C.aigw_request, name, value string) error {
	if strings.IndexByte(name, 0) >= 0 || strings.IndexByte(value, 0) >= 0 {
		return invalidArgument("header %q contains a NUL byte", name)
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	cv := C.CString(value)
	defer C.free(unsafe.Pointer(cv))
	if st := C.aigw_request_set_header(creq, cn, cv); st != C.AIGW_OK {
		// The value is not echoed: it may be a credential.
		return &Error{Status: Status(st), Message: "invalid header " + quoteName(name)}
	}
	return nil
}

func quoteName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return `"` + strings.ToValidUTF8(name, "?") + `"`
}

// watchCancel attaches a fresh cancel handle to creq and starts a goroutine
// that triggers it when ctx is done. The returned stop function ends the
// goroutine, waits for it and frees the handle; call it once the send has
// returned.
func watchCancel(ctx context.Context, creq *C.aigw_request) (stop func(), err error) {
	if ctx.Done() == nil {
		return func() {}, nil // context.Background() and the like: never cancelled
	}
	c := C.aigw_cancel_new()
	if c == nil {
		return nil, &Error{Status: StatusPanic, Message: "aigw_cancel_new failed"}
	}
	if st := C.aigw_request_set_cancel(creq, c); st != C.AIGW_OK {
		C.aigw_cancel_free(c)
		return nil, &Error{Status: Status(st), Message: "attaching the cancel handle"}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			C.aigw_cancel_trigger(c)
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-exited // the goroutine no longer touches c
		C.aigw_cancel_free(c)
	}, nil
}

// callError converts a failed send's C error; a cancelled send wraps
// ctx.Err().
func callError(ctx context.Context, st C.enum_aigw_status, cerr *C.aigw_error) *Error {
	e := takeError(st, cerr)
	if e.Status == StatusCancelled {
		e.Err = ctx.Err()
	}
	return e
}

func cancelledBeforeStart(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &Error{Status: StatusCancelled, Message: "context done before the send started", Err: err}
	}
	return nil
}

// begin does what every call does before reaching C: it refuses a context
// that is already done and a closed gateway, builds the C request and
// watches ctx for cancellation. The caller runs stop as soon as the C call
// returns, and finish (deferred) when it is done with the request.
func (g *Gateway) begin(ctx context.Context, req *Request) (creq *C.aigw_request, stop func(), finish func(), err error) {
	if err := cancelledBeforeStart(ctx); err != nil {
		return nil, nil, nil, err
	}
	if err := g.acquire(); err != nil {
		return nil, nil, nil, err
	}
	creq, err = newRequest(req)
	if err != nil {
		g.active.Done()
		return nil, nil, nil, err
	}
	stop, err = watchCancel(ctx, creq)
	if err != nil {
		C.aigw_request_free(creq)
		g.active.Done()
		return nil, nil, nil, err
	}
	finish = func() {
		C.aigw_request_free(creq)
		g.active.Done()
	}
	return creq, stop, finish, nil
}

// Send sends a request and reads the whole response. It blocks until the
// response is read, the call fails, or ctx is done (then the error has
// StatusCancelled and wraps ctx.Err()). A response with any HTTP status is
// returned as a *Response with a nil error.
func (g *Gateway) Send(ctx context.Context, req *Request) (*Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	creq, stop, finish, err := g.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	defer finish()

	var out *C.aigw_response
	var cerr *C.aigw_error
	st := C.aigw_send(g.gw, creq, &out, &cerr)
	stop()
	if st != C.AIGW_OK {
		return nil, callError(ctx, st, cerr)
	}
	defer C.aigw_response_free(out)
	resp := convertHead(out)
	var n C.size_t
	body := C.aigw_response_body(out, &n)
	resp.Body = make([]byte, int(n))
	if n > 0 {
		copy(resp.Body, unsafe.Slice((*byte)(unsafe.Pointer(body)), int(n)))
	}
	return resp, nil
}

// convertHead copies status, step and headers into Go memory.
func convertHead(r *C.aigw_response) *Response {
	resp := &Response{
		Status: int(C.aigw_response_status(r)),
		Step:   int(C.aigw_response_step(r)),
		Header: make(http.Header),
	}
	count := C.aigw_response_header_count(r)
	for i := C.size_t(0); i < count; i++ {
		var name, value *C.char
		if C.aigw_response_header_at(r, i, &name, &value) == C.AIGW_OK {
			resp.Header.Add(C.GoString(name), C.GoString(value))
		}
	}
	return resp
}
