/*
 * A tiny test harness for aigw's C tests.
 *
 * CHECK(cond) counts a pass or a failure; a failure prints file:line and the
 * expression. Counting is thread-safe. Every test binary ends with
 * `return h_finish();`, which prints exactly one line "N passed, N failed"
 * to stdout and returns non-zero if anything failed.
 *
 * Include this header first: it selects POSIX for the helpers.
 */
#ifndef AIGW_TEST_HARNESS_H
#define AIGW_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aigw.h"

/* ---- counting ---------------------------------------------------------- */

int h_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...);
int h_finish(void);
void h_section(const char *name);

#define CHECK(cond) h_check(!!(cond), __FILE__, __LINE__, #cond, NULL)
/* CHECKF(cond, "format", args...) adds a formatted detail on failure. */
#define CHECKF(cond, ...) h_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* Status comparison that prints both codes by name on failure. */
int h_check_status(long got, long want, const char *file, int line, const char *expr);
#define CHECK_STATUS(expr, want) \
    h_check_status((long)(expr), (long)(want), __FILE__, __LINE__, #expr)

/* Pass when err is an error object whose status is `want` and whose
 * message is a non-empty string. */
int h_check_error(const aigw_error *err, long want, const char *file, int line);
#define CHECK_ERROR(err, want) h_check_error((err), (long)(want), __FILE__, __LINE__)

#define CHECK_CONTAINS(hay, needle) \
    CHECKF(h_contains((hay), (needle)), "\"%s\" not found in: %s", (needle), \
           (hay) ? (hay) : "(null)")
#define CHECK_NOT_CONTAINS(hay, needle) \
    CHECKF(!h_contains((hay), (needle)), "\"%s\" unexpectedly found in: %s", (needle), \
           (hay) ? (hay) : "(null)")

/* ---- helpers ----------------------------------------------------------- */

/* A distinct, never-dereferenced pointer value to pre-set out-params with. */
extern char h_sentinel_byte;
#define SENTINEL ((void *)&h_sentinel_byte)

/* Case-insensitive substring search; NULL haystack -> 0. */
int h_contains(const char *hay, const char *needle);

/* $AIGW_MOCK_URL without a trailing '/'; exits with a failure line if unset. */
const char *h_mock_url(void);

/* Writes a gateway config pointing openai (MOCK/v1), huggingface
 * (MOCK/models), custom-local (MOCK/local/v1) and custom-mock (MOCK) at the
 * mock. `extra` (may be NULL) is appended inside the top-level object and
 * must start with ','. */
void h_mock_config(char *buf, size_t cap, const char *extra);

/* A gateway from h_mock_config(extra); CHECKs that it was created. */
aigw_gateway *h_gateway(const char *extra);

/* Builds a request. `headers` is NULL or a NULL-terminated list of name,
 * value pairs; `body` may be NULL. CHECKs every step; NULL on failure. */
aigw_request *h_request(const char *method, const char *path, const char *const *headers,
                        const char *body);

/* Sends and returns the response (NULL on failure, after CHECKing that the
 * status was AIGW_OK and printing the error message). */
aigw_response *h_send_ok(const aigw_gateway *gw, const aigw_request *req, const char *file,
                         int line);
#define SEND_OK(gw, req) h_send_ok((gw), (req), __FILE__, __LINE__)

/* Sends, expecting failure with `want`; CHECKs the status, that *out stayed
 * untouched and that an error object was returned. Returns the error
 * (caller frees) so its message can be inspected. */
aigw_error *h_send_fail(const aigw_gateway *gw, const aigw_request *req, long want,
                        const char *file, int line);
#define SEND_FAIL(gw, req, want) h_send_fail((gw), (req), (long)(want), __FILE__, __LINE__)

/* The response body as a NUL-terminated malloc'd copy (free with free()). */
char *h_body(const aigw_response *r);

/* Request count the mock recorded for `key` (GET /_mock/stats through the
 * gateway's custom-mock provider); -1 if not found. */
long h_mock_key_count(const aigw_gateway *gw, const char *key);

/* A unique key for the mock's fail=N,key=K directive. */
void h_unique_key(char *buf, size_t cap, const char *prefix);

/* A 127.0.0.1 TCP port nobody listens on (bound, then closed). */
int h_closed_port(void);

/* Monotonic milliseconds. */
double h_now_ms(void);

#endif
