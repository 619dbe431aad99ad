package aigw

// The C callbacks of aigw_send_stream, exported to C and reached through
// the trampolines in callbacks.c. Their userdata is a runtime/cgo.Handle
// for the call's *streamState; no Go pointer is ever stored in C memory.
// (A file with //export may only declare, not define, C functions in its
// preamble, so the C side lives in callbacks.c.)

/*
#include "aigw.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

func stateOf(h C.uintptr_t) *streamState {
	return cgo.Handle(h).Value().(*streamState)
}

//export aigwGoOnResponse
func aigwGoOnResponse(h C.uintptr_t, head *C.aigw_response) C.int {
	s := stateOf(h)
	return s.call(func() error {
		s.head = convertHead(head)
		s.sse = isEventStream(s.head.Header.Get("Content-Type"))
		return nil
	})
}

//export aigwGoOnData
func aigwGoOnData(h C.uintptr_t, data *C.uint8_t, n C.size_t) C.int {
	s := stateOf(h)
	if s.sse || n == 0 {
		return 0 // events come through aigwGoOnEvent
	}
	return s.call(func() error {
		s.body.Write(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
		return nil
	})
}

//export aigwGoOnEvent
func aigwGoOnEvent(h C.uintptr_t, ev *C.aigw_sse_event) C.int {
	s := stateOf(h)
	if s.onEvent == nil {
		return 0
	}
	e := Event{
		Event: goStringN(ev.event, ev.event_len),
		Data:  goStringN(ev.data, ev.data_len),
		ID:    goStringN(ev.id, ev.id_len),
	}
	return s.call(func() error { return s.onEvent(e) })
}

func goStringN(p *C.char, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
}
