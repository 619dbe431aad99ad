// The C half of the streaming callbacks: trampolines with the exact
// signatures aigw.h declares, forwarding to the Go functions exported in
// callbacks.go with the cgo.Handle carried in userdata.
#include <stdint.h>
#include <stdlib.h>

#include "aigw.h"
#include "_cgo_export.h"

static int on_response(void *userdata, const aigw_response *head)
{
    return aigwGoOnResponse((uintptr_t)userdata, (aigw_response *)head);
}

static int on_data(void *userdata, const uint8_t *data, size_t len)
{
    return aigwGoOnData((uintptr_t)userdata, (uint8_t *)data, len);
}

static int on_event(void *userdata, const aigw_sse_event *event)
{
    return aigwGoOnEvent((uintptr_t)userdata, (aigw_sse_event *)event);
}

aigw_stream_callbacks *aigw_go_callbacks_new(uintptr_t handle)
{
    aigw_stream_callbacks *cb = malloc(sizeof *cb);
    if (cb == NULL)
        return NULL;
    cb->userdata = (void *)handle;
    cb->on_response = on_response;
    cb->on_data = on_data;
    cb->on_event = on_event;
    return cb;
}

void aigw_go_callbacks_free(aigw_stream_callbacks *cb)
{
    free(cb);
}
