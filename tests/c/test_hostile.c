/* A hostile upstream, from C and under valgrind: a subset of tests/hostile.rs
 * (resets, floods, bad framing, a caller's Expect) plus a path that tries to
 * steer the caller's keys to another host. Each case checks the status the
 * caller sees; valgrind checks that none of them leaks or misbehaves.
 *
 * The server listens on 127.0.0.1 only and runs one script per connection. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum script {
    RESET_MID_BODY,
    BIG_HEADER,
    BAD_CHUNKS,
    BIG_EVENT,
    ANSWER_OK, /* never sends 100 Continue: reads the body, answers 200 */
};

struct hostile {
    int fd;
    int port;
    enum script script;
    int connections;
    pthread_mutex_t lock;
    pthread_t thread;
    int stop;
};

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

static int send_chunk(int fd, const char *p, size_t n)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", n);
    return send_str(fd, head) || send_all(fd, p, n) || send_str(fd, "\r\n");
}

/* Reads one request: its head and Content-Length bytes of body. */
static int read_request(int c)
{
    char buf[16384];
    size_t got = 0;
    long length = 0;
    const char *end = NULL;
    while (got < sizeof buf - 1) {
        ssize_t r = read(c, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strstr(buf, "ontent-Length:");
            if (cl == NULL)
                cl = strstr(buf, "ontent-length:");
            if (cl != NULL && cl < end)
                length = strtol(cl + 14, NULL, 10);
        }
        if (end != NULL && got >= (size_t)(end + 4 - buf) + (size_t)length)
            return 0;
    }
    return -1;
}

static void run_script(struct hostile *h, int c)
{
    static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n";
    if (read_request(c) != 0)
        return;
    switch (h->script) {
    case RESET_MID_BODY: {
        struct linger lg = {1, 0};
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        break;
    }
    case BIG_HEADER: {
        size_t n = 10u << 20;
        char *big = malloc(n);
        if (big == NULL)
            break;
        memset(big, 'a', n);
        if (send_str(c, "HTTP/1.1 200 OK\r\nX-Big: ") == 0 && send_all(c, big, n) == 0)
            send_str(c, "\r\nContent-Length: 0\r\n\r\n");
        free(big);
        break;
    }
    case BAD_CHUNKS:
        send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-hex\r\nhi\r\n0\r\n\r\n");
        break;
    case BIG_EVENT: {
        size_t piece = 1u << 20;
        char *a = malloc(piece);
        int i;
        if (a == NULL)
            break;
        memset(a, 'a', piece);
        if (send_str(c, sse_head) == 0 && send_chunk(c, "data: ", 6) == 0)
            for (i = 0; i < 20 && send_chunk(c, a, piece) == 0; i++)
                ;
        free(a);
        break;
    }
    case ANSWER_OK:
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}");
        break;
    }
    /* Let the client finish reading before the close. */
    shutdown(c, SHUT_WR);
    {
        char sink[4096];
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (read(c, sink, sizeof sink) > 0)
            ;
    }
}

static void *hostile_main(void *arg)
{
    struct hostile *h = arg;
    for (;;) {
        int c = accept(h->fd, NULL, NULL), one = 1, stop;
        if (c < 0)
            return NULL;
        pthread_mutex_lock(&h->lock);
        stop = h->stop;
        if (!stop)
            h->connections++;
        pthread_mutex_unlock(&h->lock);
        if (stop) {
            close(c);
            return NULL;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        run_script(h, c);
        close(c);
    }
}

static int hostile_start(struct hostile *h, enum script script)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    memset(h, 0, sizeof *h);
    h->script = script;
    pthread_mutex_init(&h->lock, NULL);
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!CHECK(h->fd >= 0) || !CHECK(bind(h->fd, (struct sockaddr *)&addr, sizeof addr) == 0) ||
        !CHECK(listen(h->fd, 8) == 0) ||
        !CHECK(getsockname(h->fd, (struct sockaddr *)&addr, &alen) == 0))
        return -1;
    h->port = ntohs(addr.sin_port);
    return CHECK(pthread_create(&h->thread, NULL, hostile_main, h) == 0) ? 0 : -1;
}

static int hostile_stop(struct hostile *h)
{
    struct sockaddr_in addr;
    int c, n;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    n = h->connections;
    pthread_mutex_unlock(&h->lock);
    /* Wake accept() with one last connection. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)h->port);
    connect(c, (struct sockaddr *)&addr, sizeof addr);
    pthread_join(h->thread, NULL);
    close(c);
    close(h->fd);
    pthread_mutex_destroy(&h->lock);
    return n;
}

static aigw_gateway *gateway_for(const struct hostile *h)
{
    char config[256];
    aigw_gateway *gw = NULL;
    snprintf(config, sizeof config,
             "{\"providers\":{\"custom-h\":{\"base_url\":\"http://127.0.0.1:%d/v1\"}}}", h->port);
    CHECK_STATUS(aigw_gateway_new(config, &gw, NULL), AIGW_OK);
    return gw;
}

static aigw_request *chat(const char *expect)
{
    static const char *const plain[] = {"Content-Type", "application/json", NULL};
    const char *const with_expect[] = {"Content-Type", "application/json", "Expect", expect, NULL};
    return h_request("POST", "custom-h/chat/completions", expect ? with_expect : plain,
                     "{\"model\":\"m\",\"messages\":[]}");
}

/* Sends once and checks the status; frees everything. */
static void expect_send(enum script script, aigw_status want, const char *expect_header)
{
    struct hostile h;
    aigw_gateway *gw;
    aigw_request *req;
    aigw_response *resp = NULL;
    aigw_error *err = NULL;
    if (hostile_start(&h, script) != 0)
        return;
    gw = gateway_for(&h);
    req = chat(expect_header);
    if (gw != NULL && req != NULL) {
        aigw_status st = aigw_send(gw, req, &resp, &err);
        CHECK_STATUS(st, want);
        if (want == AIGW_OK) {
            CHECK(resp != NULL && aigw_response_status(resp) == 200);
        } else {
            CHECK_ERROR(err, want);
            CHECK(resp == NULL);
        }
    }
    aigw_response_free(resp);
    aigw_error_free(err);
    aigw_request_free(req);
    aigw_gateway_free(gw);
    hostile_stop(&h);
}

static void test_faults(void)
{
    h_section("reset mid-body: AIGW_ERR_CONNECT");
    expect_send(RESET_MID_BODY, AIGW_ERR_CONNECT, NULL);
    h_section("10 MB response header: AIGW_ERR_PROTOCOL");
    expect_send(BIG_HEADER, AIGW_ERR_PROTOCOL, NULL);
    h_section("bad chunked framing: AIGW_ERR_PROTOCOL");
    expect_send(BAD_CHUNKS, AIGW_ERR_PROTOCOL, NULL);
    h_section("Expect: 100-continue against a server that never sends 100");
    expect_send(ANSWER_OK, AIGW_OK, "100-continue");
}

static int on_event_count(void *userdata, const aigw_sse_event *e)
{
    (void)e;
    (*(int *)userdata)++;
    return 0;
}

static void test_big_event(void)
{
    struct hostile h;
    aigw_gateway *gw;
    aigw_request *req;
    aigw_response *head = SENTINEL;
    aigw_error *err = NULL;
    int events = 0;
    aigw_stream_callbacks cb;
    h_section("a 20 MB SSE event: AIGW_ERR_BODY_TOO_LARGE, nothing delivered");
    if (hostile_start(&h, BIG_EVENT) != 0)
        return;
    memset(&cb, 0, sizeof cb);
    cb.userdata = &events;
    cb.on_event = on_event_count;
    gw = gateway_for(&h);
    req = chat(NULL);
    if (gw != NULL && req != NULL) {
        CHECK_STATUS(aigw_send_stream(gw, req, &cb, &head, &err), AIGW_ERR_BODY_TOO_LARGE);
        CHECK_ERROR(err, AIGW_ERR_BODY_TOO_LARGE);
        CHECK(head == SENTINEL);
        CHECK(events == 0);
    }
    aigw_error_free(err);
    aigw_request_free(req);
    aigw_gateway_free(gw);
    hostile_stop(&h);
}

static void test_host_steering(void)
{
    struct hostile trap;
    aigw_gateway *gw = NULL;
    char steps[512];
    aigw_request *req;
    aigw_response *resp = SENTINEL;
    aigw_error *err = NULL;
    h_section("a Universal endpoint cannot pick the azure host");
    if (hostile_start(&trap, ANSWER_OK) != 0)
        return;
    CHECK_STATUS(aigw_gateway_new(NULL, &gw, NULL), AIGW_OK);
    snprintf(steps, sizeof steps,
             "[{\"provider\":\"azure-openai\",\"endpoint\":\"127.0.0.1:%d#/dep/chat/completions\","
             "\"query\":{}}]",
             trap.port);
    {
        const char *const headers[] = {"api-key", "SECRET-KEY", NULL};
        req = h_request("POST", "", headers, steps);
    }
    if (gw != NULL && req != NULL) {
        CHECK_STATUS(aigw_send(gw, req, &resp, &err), AIGW_ERR_INVALID_REQUEST);
        CHECK_ERROR(err, AIGW_ERR_INVALID_REQUEST);
        CHECK(resp == SENTINEL);
        if (err != NULL) {
            CHECK_CONTAINS(aigw_error_message(err), "azure-openai");
            CHECK_NOT_CONTAINS(aigw_error_message(err), "SECRET");
        }
    }
    aigw_error_free(err);
    aigw_request_free(req);
    aigw_gateway_free(gw);
    CHECKF(hostile_stop(&trap) == 0, "a refused request reached the trap");
}

int main(void)
{
    test_faults();
    test_big_event();
    test_host_steering();
    return h_finish();
}
