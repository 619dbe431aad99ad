#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>

char h_sentinel_byte;

static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;
static long h_passed;
static long h_failed;

int h_check(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    pthread_mutex_lock(&h_lock);
    if (ok) {
        h_passed++;
    } else {
        h_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, expr);
        if (fmt != NULL) {
            va_list ap;
            fputs(": ", stderr);
            va_start(ap, fmt);
            vfprintf(stderr, fmt, ap);
            va_end(ap);
        }
        fputc('\n', stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&h_lock);
    return ok;
}

static const char *status_name(long s)
{
    static const char *const names[] = {
        "AIGW_OK", "AIGW_ERR_NULL_ARGUMENT", "AIGW_ERR_INVALID_ARGUMENT",
        "AIGW_ERR_INVALID_CONFIG", "AIGW_ERR_INVALID_REQUEST", "AIGW_ERR_UNKNOWN_PROVIDER",
        "AIGW_ERR_CONNECT", "AIGW_ERR_TIMEOUT", "AIGW_ERR_TLS", "AIGW_ERR_PROTOCOL",
        "AIGW_ERR_RATE_LIMITED", "AIGW_ERR_BODY_TOO_LARGE", "AIGW_ERR_ABORTED",
        "AIGW_ERR_CANCELLED", "AIGW_ERR_STREAM_INTERRUPTED", "AIGW_ERR_PANIC",
    };
    if (s >= 0 && s < (long)(sizeof names / sizeof names[0]))
        return names[s];
    return "(unknown status)";
}

int h_check_status(long got, long want, const char *file, int line, const char *expr)
{
    return h_check(got == want, file, line, expr, "got %s (%ld), want %s (%ld)",
                   status_name(got), got, status_name(want), want);
}

int h_check_error(const aigw_error *err, long want, const char *file, int line)
{
    const char *msg;
    if (!h_check(err != NULL, file, line, "error object returned", "want %s",
                 status_name(want)))
        return 0;
    if (!h_check_status((long)aigw_error_status(err), want, file, line,
                        "aigw_error_status(err)"))
        return 0;
    msg = aigw_error_message(err);
    return h_check(msg != NULL && msg[0] != '\0', file, line,
                   "aigw_error_message(err) is non-empty", NULL);
}

void h_section(const char *name)
{
    pthread_mutex_lock(&h_lock);
    printf("# %s\n", name);
    fflush(stdout);
    pthread_mutex_unlock(&h_lock);
}

int h_finish(void)
{
    long passed, failed;
    pthread_mutex_lock(&h_lock);
    passed = h_passed;
    failed = h_failed;
    pthread_mutex_unlock(&h_lock);
    fflush(stderr);
    printf("%ld passed, %ld failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

int h_contains(const char *hay, const char *needle)
{
    size_t n, i;
    if (hay == NULL || needle == NULL)
        return 0;
    n = strlen(needle);
    for (; *hay != '\0'; hay++) {
        for (i = 0; i < n; i++) {
            if (hay[i] == '\0' ||
                tolower((unsigned char)hay[i]) != tolower((unsigned char)needle[i]))
                break;
        }
        if (i == n)
            return 1;
    }
    return n == 0;
}

const char *h_mock_url(void)
{
    static char url[512];
    const char *env = getenv("AIGW_MOCK_URL");
    size_t n;
    if (env == NULL || env[0] == '\0') {
        fprintf(stderr, "AIGW_MOCK_URL is not set: run this test through "
                        "scripts/with-mock.sh (make ctest)\n");
        h_check(0, __FILE__, __LINE__, "AIGW_MOCK_URL set", NULL);
        exit(h_finish());
    }
    n = strlen(env);
    while (n > 0 && env[n - 1] == '/')
        n--;
    if (n >= sizeof url) {
        fprintf(stderr, "AIGW_MOCK_URL is too long\n");
        h_check(0, __FILE__, __LINE__, "AIGW_MOCK_URL length", NULL);
        exit(h_finish());
    }
    memcpy(url, env, n);
    url[n] = '\0';
    return url;
}

void h_mock_config(char *buf, size_t cap, const char *extra)
{
    const char *m = h_mock_url();
    snprintf(buf, cap,
             "{\"providers\":{"
             "\"openai\":{\"base_url\":\"%s/v1\"},"
             "\"huggingface\":{\"base_url\":\"%s/models\"},"
             "\"custom-local\":{\"base_url\":\"%s/local/v1\"},"
             "\"custom-mock\":{\"base_url\":\"%s\"}}%s}",
             m, m, m, m, extra ? extra : "");
}

aigw_gateway *h_gateway(const char *extra)
{
    char config[4096];
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    h_mock_config(config, sizeof config, extra);
    st = aigw_gateway_new(config, &gw, &err);
    if (!CHECKF(st == AIGW_OK && gw != NULL, "aigw_gateway_new(%s): %s: %s", config,
                aigw_status_str((int)st), err ? aigw_error_message(err) : "(no error)")) {
        aigw_error_free(err);
        return NULL;
    }
    return gw;
}

aigw_request *h_request(const char *method, const char *path, const char *const *headers,
                        const char *body)
{
    aigw_request *req = NULL;
    if (!CHECK_STATUS(aigw_request_new(method, path, &req), AIGW_OK))
        return NULL;
    if (headers != NULL) {
        for (; headers[0] != NULL; headers += 2) {
            if (!CHECKF(aigw_request_set_header(req, headers[0], headers[1]) == AIGW_OK,
                        "set_header(%s: %s)", headers[0], headers[1])) {
                aigw_request_free(req);
                return NULL;
            }
        }
    }
    if (body != NULL &&
        !CHECK_STATUS(aigw_request_set_body(req, (const uint8_t *)body, strlen(body)), AIGW_OK)) {
        aigw_request_free(req);
        return NULL;
    }
    return req;
}

aigw_response *h_send_ok(const aigw_gateway *gw, const aigw_request *req, const char *file,
                         int line)
{
    aigw_response *resp = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    if (gw == NULL || req == NULL) {
        h_check(0, file, line, "send preconditions (gateway and request)", NULL);
        return NULL;
    }
    st = aigw_send(gw, req, &resp, &err);
    if (!h_check(st == AIGW_OK && resp != NULL, file, line, "aigw_send(...) == AIGW_OK",
                 "got %s (%d): %s", aigw_status_str((int)st), (int)st,
                 err ? aigw_error_message(err) : "(no error object)")) {
        aigw_error_free(err);
        if (st == AIGW_OK)
            aigw_response_free(resp);
        return NULL;
    }
    h_check(err == NULL, file, line, "no error object on success", NULL);
    return resp;
}

aigw_error *h_send_fail(const aigw_gateway *gw, const aigw_request *req, long want,
                        const char *file, int line)
{
    aigw_response *resp = SENTINEL;
    aigw_error *err = NULL;
    aigw_status st;
    if (gw == NULL || req == NULL) {
        h_check(0, file, line, "send preconditions (gateway and request)", NULL);
        return NULL;
    }
    st = aigw_send(gw, req, &resp, &err);
    h_check_status((long)st, want, file, line, "aigw_send(...)");
    if (st == AIGW_OK) {
        char *b = h_body(resp);
        fprintf(stderr, "%s:%d:   unexpected response HTTP %u: %.300s\n", file, line,
                (unsigned)aigw_response_status(resp), b ? b : "");
        free(b);
        aigw_response_free(resp);
        aigw_error_free(err);
        return NULL;
    }
    h_check(resp == SENTINEL, file, line, "*out untouched on failure", NULL);
    h_check_error(err, want, file, line);
    return err;
}

char *h_body(const aigw_response *r)
{
    size_t len = 0;
    const uint8_t *data = aigw_response_body(r, &len);
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    if (data != NULL && len > 0)
        memcpy(s, data, len);
    else
        len = 0;
    s[len] = '\0';
    return s;
}

/* Finds "key" followed by ':' and an integer, in compact or spaced JSON. */
static long json_int_after_key(const char *json, const char *key)
{
    size_t klen = strlen(key);
    const char *p = json;
    while ((p = strchr(p, '"')) != NULL) {
        if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"') {
            const char *q = p + 2 + klen;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                q++;
            if (*q == ':') {
                q++;
                while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                    q++;
                if (*q >= '0' && *q <= '9')
                    return strtol(q, NULL, 10);
            }
        }
        p++;
    }
    return -1;
}

long h_mock_key_count(const aigw_gateway *gw, const char *key)
{
    aigw_request *req = h_request("GET", "custom-mock/_mock/stats", NULL, NULL);
    aigw_response *resp;
    char *body;
    const char *by_key;
    long n = -1;
    if (req == NULL)
        return -1;
    resp = SEND_OK(gw, req);
    aigw_request_free(req);
    if (resp == NULL)
        return -1;
    body = h_body(resp);
    if (body != NULL) {
        by_key = strstr(body, "\"by_key\"");
        n = json_int_after_key(by_key ? by_key : body, key);
    }
    free(body);
    aigw_response_free(resp);
    return n;
}

void h_unique_key(char *buf, size_t cap, const char *prefix)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long counter;
    struct timespec ts;
    unsigned long n;
    pthread_mutex_lock(&lock);
    n = ++counter;
    pthread_mutex_unlock(&lock);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%s-%ld-%lx%lx-%lu", prefix, (long)getpid(), (unsigned long)ts.tv_sec,
             (unsigned long)ts.tv_nsec, n);
}

int h_closed_port(void)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &alen) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

double h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
