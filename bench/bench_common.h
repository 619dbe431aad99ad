/*
 * bench_common.h: what curl_client.c and aigw_client.c share (header-only).
 *
 * Timing is clock_gettime(CLOCK_MONOTONIC); latencies are kept per thread as
 * nanoseconds and pooled for the median and p99. Results go to stdout as one
 * machine-readable line each (KIND key=value ...), which bench/report.py reads.
 *
 * A "latency" run: every thread makes its own warm-up requests (not timed:
 * they open the keep-alive connection), then all threads wait at a barrier,
 * and each one sends back to back for --duration seconds (or --max requests),
 * timing every request. Throughput = requests / (last end - first start).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The chat request every contender sends (LiteLLM and Portkey build their own
 * from the same model and messages). */
#define BENCH_MODEL "gpt-4o-mini"
#define BENCH_MESSAGES                                                          \
    "[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"      \
    "{\"role\":\"user\",\"content\":\"Write a haiku about benchmarks.\"}]"
#define BENCH_CHAT_BODY                                                         \
    "{\"model\":\"" BENCH_MODEL "\",\"messages\":" BENCH_MESSAGES "}"
#define BENCH_STREAM_BODY                                                       \
    "{\"model\":\"" BENCH_MODEL "\",\"stream\":true,\"messages\":" BENCH_MESSAGES "}"
#define BENCH_API_KEY "sk-bench"

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (q in [0,1]). */
static double pct_us(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

static double median_us(const uint64_t *sorted, size_t n)
{
    if (n == 0)
        return 0.0;
    if (n % 2)
        return (double)sorted[n / 2] / 1000.0;
    return ((double)sorted[n / 2 - 1] + (double)sorted[n / 2]) / 2000.0;
}

/* Peak and current resident set size of this process, KiB, from
 * /proc/self/status (VmHWM, VmRSS). */
static void read_rss(long *hwm_kib, long *rss_kib)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *hwm_kib = *rss_kib = -1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kib = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* ---- options ----------------------------------------------------------- */

struct opts {
    const char *mode;     /* latency | stream | mem */
    const char *label;    /* the "case" field of the output */
    int threads;
    double duration_s;    /* per latency run */
    long warmup;          /* per thread */
    long max_per_thread;  /* cap on timed requests per thread */
    long iterations;      /* stream runs */
    long requests;        /* mem: total requests */
    long checkpoint;      /* mem: first RSS reading after this many */
    long expect_events;   /* stream: events per response */
};

static void opts_defaults(struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->mode = "latency";
    o->label = "chat";
    o->threads = 1;
    o->duration_s = 3.0;
    o->warmup = 200;
    o->max_per_thread = 500000;
    o->iterations = 200;
    o->requests = 100000;
    o->checkpoint = 10000;
    o->expect_events = 1000;
}

/* Parses the options both clients share; returns 1 if argv[*i] was one. */
static int opts_common(struct opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
#define NEXT() ((*i) + 1 < argc ? argv[++(*i)] : (die("%s needs a value", a), ""))
    if (!strcmp(a, "--mode"))
        o->mode = NEXT();
    else if (!strcmp(a, "--case"))
        o->label = NEXT();
    else if (!strcmp(a, "--threads"))
        o->threads = atoi(NEXT());
    else if (!strcmp(a, "--duration"))
        o->duration_s = atof(NEXT());
    else if (!strcmp(a, "--warmup"))
        o->warmup = atol(NEXT());
    else if (!strcmp(a, "--max"))
        o->max_per_thread = atol(NEXT());
    else if (!strcmp(a, "--iterations"))
        o->iterations = atol(NEXT());
    else if (!strcmp(a, "--requests"))
        o->requests = atol(NEXT());
    else if (!strcmp(a, "--checkpoint"))
        o->checkpoint = atol(NEXT());
    else if (!strcmp(a, "--events"))
        o->expect_events = atol(NEXT());
    else
        return 0;
#undef NEXT
    if (o->threads < 1 || o->threads > 256)
        die("--threads must be 1..256");
    return 1;
}

/* Sorts lat and prints its RESULT line (wall_s: the run's wall time). */
static void print_result(const char *tool, const char *label, int threads, uint64_t *lat, size_t n,
                         double wall_s)
{
    double sum = 0;
    qsort(lat, n, sizeof *lat, cmp_u64);
    for (size_t i = 0; i < n; i++)
        sum += (double)lat[i];
    printf("RESULT tool=%s case=%s threads=%d n=%zu median_us=%.2f p99_us=%.2f p90_us=%.2f "
           "mean_us=%.2f min_us=%.2f max_us=%.2f rps=%.0f wall_s=%.3f\n",
           tool, label, threads, n, median_us(lat, n), pct_us(lat, n, 0.99), pct_us(lat, n, 0.90),
           n ? sum / (double)n / 1000.0 : 0.0, pct_us(lat, n, 0.0),
           n ? (double)lat[n - 1] / 1000.0 : 0.0, wall_s > 0 ? (double)n / wall_s : 0.0, wall_s);
    fflush(stdout);
}

/* ---- turn by turn ----------------------------------------------------- */

/* Contenders measured turn by turn (one request of each per turn, in an
 * order that rotates) meet the same moment of a shared machine; the
 * median of their per-turn differences is free of the drift that
 * separates runs made seconds apart. A difference is stored offset by
 * 2^63 so that signed values sort as unsigned ones. */
#define TURN_ZERO (UINT64_C(1) << 63)

static inline uint64_t turn_diff(uint64_t a, uint64_t b)
{
    return TURN_ZERO + a - b;
}

static double turn_us(uint64_t v)
{
    return v >= TURN_ZERO ? (double)(v - TURN_ZERO) / 1000.0 : -(double)(TURN_ZERO - v) / 1000.0;
}

/* Sorts diff and prints its median and quartiles as NAME_median_us=...
 * NAME_p25_us=... NAME_p75_us=... (no newline). */
static void print_turn_diffs(const char *name, uint64_t *diff, size_t n)
{
    qsort(diff, n, sizeof *diff, cmp_u64);
    printf(" %s_median_us=%.2f %s_p25_us=%.2f %s_p75_us=%.2f", name,
           n ? turn_us(diff[n / 2]) : 0.0, name, n ? turn_us(diff[n / 4]) : 0.0, name,
           n ? turn_us(diff[(3 * n) / 4]) : 0.0);
}

/* ---- the threaded latency run ----------------------------------------- */

/* One request; returns 0 on success, or non-zero after printing why. The
 * client owns `state` (one per thread). */
typedef int (*request_fn)(void *state);

struct worker {
    pthread_t tid;
    void *state;
    request_fn fn;
    const struct opts *o;
    pthread_barrier_t *barrier;
    uint64_t *lat;
    size_t n;
    uint64_t start, end;
    int failed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    for (long i = 0; i < o->warmup && !w->failed; i++)
        if (w->fn(w->state))
            w->failed = 1;
    pthread_barrier_wait(w->barrier);
    if (w->failed)
        return NULL;
    uint64_t budget = (uint64_t)(o->duration_s * 1e9);
    w->start = now_ns();
    uint64_t t = w->start;
    while ((size_t)w->n < (size_t)o->max_per_thread && t - w->start < budget) {
        if (w->fn(w->state)) {
            w->failed = 1;
            break;
        }
        uint64_t t2 = now_ns();
        w->lat[w->n++] = t2 - t;
        t = t2;
    }
    w->end = t;
    return NULL;
}

/* Runs the latency mode with one `states[i]` per thread and prints
 * RESULT tool=<tool> case=<label> threads=N n=... median_us p99_us rps.
 * Returns 0, or 1 if any request failed. */
static int run_latency(const char *tool, const struct opts *o, request_fn fn, void **states)
{
    int nt = o->threads > 0 && o->threads <= 256 ? o->threads : 1;
    struct worker *ws = calloc((size_t)nt, sizeof *ws);
    pthread_barrier_t barrier;
    if (!ws)
        die("out of memory");
    /* Enough room for the run, bounded by --max. */
    size_t cap = (size_t)o->max_per_thread;
    pthread_barrier_init(&barrier, NULL, (unsigned)nt);
    for (int i = 0; i < nt; i++) {
        ws[i].state = states[i];
        ws[i].fn = fn;
        ws[i].o = o;
        ws[i].barrier = &barrier;
        ws[i].lat = malloc(cap * sizeof(uint64_t));
        if (!ws[i].lat)
            die("out of memory");
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
            die("pthread_create failed");
    }
    size_t total = 0;
    int failed = 0;
    uint64_t first = UINT64_MAX, last = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(ws[i].tid, NULL);
        failed |= ws[i].failed;
        total += ws[i].n;
        if (ws[i].start && ws[i].start < first)
            first = ws[i].start;
        if (ws[i].end > last)
            last = ws[i].end;
    }
    pthread_barrier_destroy(&barrier);
    if (failed) {
        fprintf(stderr, "%s: %s: a request failed\n", tool, o->label);
        return 1;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof(uint64_t));
    if (!all)
        die("out of memory");
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof(uint64_t));
        k += ws[i].n;
        free(ws[i].lat);
    }
    print_result(tool, o->label, nt, all, total, last > first ? (double)(last - first) / 1e9 : 0);
    free(all);
    free(ws);
    return total == 0;
}

/* ---- streaming -------------------------------------------------------- */

/* Per-response stream timing: filled by the clients' event callbacks. */
struct stream_timing {
    uint64_t start;
    uint64_t first;  /* first event delivered */
    uint64_t last;   /* most recent event delivered */
    long events;
    size_t bytes;
};

static inline void stream_event_seen(struct stream_timing *t)
{
    uint64_t now = now_ns();
    if (t->events == 0)
        t->first = now;
    t->last = now;
    t->events++;
}

/* Prints STREAM tool=... with first/last event medians and p99s. */
static void print_stream(const char *tool, const struct opts *o, uint64_t *first, uint64_t *last,
                         uint64_t *total, size_t n, long events, size_t bytes)
{
    qsort(first, n, sizeof(uint64_t), cmp_u64);
    qsort(last, n, sizeof(uint64_t), cmp_u64);
    qsort(total, n, sizeof(uint64_t), cmp_u64);
    printf("STREAM tool=%s case=%s n=%zu events=%ld bytes=%zu first_median_us=%.2f "
           "first_p99_us=%.2f last_median_us=%.2f last_p99_us=%.2f total_median_us=%.2f\n",
           tool, o->label, n, events, bytes, median_us(first, n), pct_us(first, n, 0.99),
           median_us(last, n), pct_us(last, n, 0.99), median_us(total, n));
    fflush(stdout);
}

#endif
