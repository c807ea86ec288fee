/* Per-request cost of the session engine through the C API, on the native memory store.
 *
 * Three request shapes, each a full ks_session_load -> (handler) -> ks_session_commit ->
 * read the Set-Cookie values -> free, as a C server would run them:
 *   read   a returning visitor whose handler only reads a field: nothing is written, no cookie
 *   write  a returning visitor whose handler changes a field: the record is saved and both
 *          cookies (koa.sid, koa.sid.sig) are sent again
 *   new    no cookie; the handler writes, so a new id is drawn, saved and sent
 * Cookies are signed (one key), as with koa-session's defaults.
 *
 * Each thread runs its own visitors on the one engine + store shared by all threads.
 * Timing: CLOCK_MONOTONIC around each batch of requests; the figures are the median, p90
 * and p99 of the batches' mean ns/request (after warm-up batches), plus the wall-clock
 * throughput of all threads together. Rounds alternate the thread counts (1, 2, 1, 2, ...)
 * and the speedup is taken within each round, because on a shared VM the speed of a core
 * drifts over seconds. Every call's result is checked, and after each timed run the stored
 * data is read back and compared; any failure exits 1.
 *
 *   bench [--smoke] [--cases read,write,new] [--threads 1,2] [--rounds 5] [--batch 10000]
 *         [--batches 30] [--warmup 5] [--visitors 1000]
 */
#include "koa_session.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 8

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: FAILED: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

#define OK(call)                                                                          \
  do {                                                                                    \
    ks_result rc_ = (call);                                                               \
    if (rc_ != KS_RESULT_OK)                                                              \
      die("%s:%d: %s returned %u (%s)", __FILE__, __LINE__, #call, (unsigned)rc_,         \
          ks_result_message(rc_));                                                        \
  } while (0)

#define EXPECT(cond)                                                                      \
  do {                                                                                    \
    if (!(cond)) die("%s:%d: expected %s", __FILE__, __LINE__, #cond);                    \
  } while (0)

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  if (clock_gettime(clock, &ts) != 0) die("clock_gettime: %s", strerror(errno));
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- options ---------------------------------------------------------------------- */

typedef enum { CASE_READ, CASE_WRITE, CASE_NEW, CASE_COUNT } bench_case;
static const char *const CASE_NAMES[CASE_COUNT] = {"read", "write", "new"};
static const char *const CASE_TITLES[CASE_COUNT] = {
    "unchanged session (returning visitor reads)",
    "changed session (returning visitor writes)",
    "new session (no cookie; handler writes)",
};

typedef struct {
  int cases[CASE_COUNT];
  int n_cases;
  int threads[MAX_THREADS];
  int n_threads;
  long batch;
  int batches;
  int warmup;
  int visitors;
  int rounds;
} options;

static long parse_long(const char *s, long min, long max, const char *what) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) die("bad %s: '%s' (%ld..%ld)", what, s, min, max);
  return v;
}

static void parse_list(const char *s, const char *what, void (*add)(options *, const char *), options *o) {
  char copy[256];
  if (strlen(s) >= sizeof copy) die("%s list too long", what);
  strcpy(copy, s);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) add(o, tok);
}

static void add_case(options *o, const char *name) {
  for (int c = 0; c < CASE_COUNT; c++) {
    if (strcmp(name, CASE_NAMES[c]) == 0) {
      if (o->n_cases == CASE_COUNT) die("too many cases");
      o->cases[o->n_cases++] = c;
      return;
    }
  }
  die("unknown case '%s' (read, write, new)", name);
}

static void add_threads(options *o, const char *n) {
  if (o->n_threads == MAX_THREADS) die("too many thread counts");
  o->threads[o->n_threads++] = (int)parse_long(n, 1, MAX_THREADS, "thread count");
}

static options parse_args(int argc, char **argv) {
  options o = {.batch = 10000, .batches = 30, .warmup = 5, .visitors = 1000, .rounds = 5};
  const char *cases = "read,write,new", *threads = "1,2";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--smoke") == 0) {
      o.batch = 1000, o.batches = 5, o.warmup = 1, o.visitors = 100, o.rounds = 1;
      continue;
    }
    if (!v) die("usage: bench [--smoke] [--cases read,write,new] [--threads 1,2] [--batch N] "
                "[--batches N] [--warmup N] [--visitors N] [--rounds N]");
    if (strcmp(a, "--cases") == 0) cases = v;
    else if (strcmp(a, "--threads") == 0) threads = v;
    else if (strcmp(a, "--batch") == 0) o.batch = parse_long(v, 1, 100000000, "batch");
    else if (strcmp(a, "--batches") == 0) o.batches = (int)parse_long(v, 1, 100000, "batches");
    else if (strcmp(a, "--warmup") == 0) o.warmup = (int)parse_long(v, 0, 100000, "warmup");
    else if (strcmp(a, "--visitors") == 0) o.visitors = (int)parse_long(v, 1, 10000000, "visitors");
    else if (strcmp(a, "--rounds") == 0) o.rounds = (int)parse_long(v, 1, 64, "rounds");
    else die("unknown option %s", a);
    i++;
  }
  parse_list(cases, "cases", add_case, &o);
  parse_list(threads, "threads", add_threads, &o);
  return o;
}

/* ---- one request of each shape ------------------------------------------------------ */

/* A returning visitor: the Cookie header its browser sends and the counter the write
 * case keeps in its session (so the read-back check knows what must be stored). */
typedef struct {
  char cookie[160];
  size_t cookie_len;
  long views;
} visitor;

static const char USER[] = "\"alice\"";

/* Appends "name=value" (the part of a Set-Cookie value before ';') to a Cookie header. */
static void add_cookie_pair(visitor *v, const char *set_cookie) {
  size_t pair = strcspn(set_cookie, ";");
  size_t sep = v->cookie_len ? 2 : 0;
  if (v->cookie_len + sep + pair >= sizeof v->cookie) die("cookie header too long");
  if (sep) memcpy(v->cookie + v->cookie_len, "; ", 2);
  memcpy(v->cookie + v->cookie_len + sep, set_cookie, pair);
  v->cookie_len += sep + pair;
  v->cookie[v->cookie_len] = 0;
}

static void expect_cookies(const ks_set_cookies *c, size_t n) {
  size_t count = ks_set_cookies_count(c);
  if (count != n) die("commit sent %zu Set-Cookie values, expected %zu", count, n);
  for (size_t i = 0; i < count; i++) {
    const char *value;
    size_t len;
    OK(ks_set_cookies_get(c, i, &value, &len));
    EXPECT(len > 8 && value[len] == 0);
  }
}

/* New visitor: no cookie; the handler signs the user in, so the session is saved. */
static void request_new(const ks_engine *e, visitor *keep) {
  ks_session *s = NULL;
  OK(ks_session_load(e, NULL, 0, "/", &s));
  EXPECT(s != NULL && ks_session_is_new(s));
  OK(ks_session_set_field(s, "user", USER, sizeof USER - 1));
  OK(ks_session_set_field(s, "views", "0", 1));
  ks_set_cookies *c = NULL;
  OK(ks_session_commit(s, true, &c));
  expect_cookies(c, 2);
  if (keep) {
    keep->cookie_len = 0;
    keep->views = 0;
    for (size_t i = 0; i < 2; i++) {
      const char *value;
      size_t len;
      OK(ks_set_cookies_get(c, i, &value, &len));
      add_cookie_pair(keep, value);
    }
  }
  ks_set_cookies_free(c);
  ks_session_free(s);
}

/* Returning visitor, read only: the handler reads the user; nothing changes, nothing is sent. */
static void request_read(const ks_engine *e, const visitor *v) {
  ks_session *s = NULL;
  OK(ks_session_load(e, (const uint8_t *)v->cookie, v->cookie_len, "/", &s));
  EXPECT(s != NULL && ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  char buf[32];
  size_t len;
  OK(ks_session_get_field(s, "user", buf, sizeof buf, &len));
  EXPECT(len == sizeof USER - 1 && memcmp(buf, USER, len) == 0);
  ks_set_cookies *c = NULL;
  OK(ks_session_commit(s, true, &c));
  expect_cookies(c, 0);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

/* Returning visitor who writes: the handler counts a page view (read, increment, write). */
static void request_write(const ks_engine *e, visitor *v) {
  ks_session *s = NULL;
  OK(ks_session_load(e, (const uint8_t *)v->cookie, v->cookie_len, "/", &s));
  EXPECT(s != NULL && ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  char buf[32];
  size_t len;
  OK(ks_session_get_field(s, "views", buf, sizeof buf, &len));
  long views = strtol(buf, NULL, 10);
  if (views != v->views) die("visitor saw views=%ld, expected %ld", views, v->views);
  int n = snprintf(buf, sizeof buf, "%ld", views + 1);
  OK(ks_session_set_field(s, "views", buf, (size_t)n));
  ks_set_cookies *c = NULL;
  OK(ks_session_commit(s, true, &c));
  expect_cookies(c, 2);
  ks_set_cookies_free(c);
  ks_session_free(s);
  v->views = views + 1;
}

/* After the timed run: every visitor's stored record must hold what it was last given. */
static void verify_visitors(const ks_engine *e, const visitor *vs, int n) {
  for (int i = 0; i < n; i++) {
    ks_session *s = NULL;
    OK(ks_session_load(e, (const uint8_t *)vs[i].cookie, vs[i].cookie_len, "/", &s));
    EXPECT(s != NULL && ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
    char buf[32];
    size_t len;
    OK(ks_session_get_field(s, "views", buf, sizeof buf, &len));
    if (strtol(buf, NULL, 10) != vs[i].views) die("visitor %d: stored views=%s, expected %ld", i, buf, vs[i].views);
    ks_session_free(s); /* no commit: nothing written */
  }
}

/* ---- threads and timing --------------------------------------------------------------- */

typedef struct {
  const options *opt;
  bench_case which;
  const ks_engine *engine;
  pthread_barrier_t *start;
  visitor *visitors;
  uint64_t *batch_ns; /* per timed batch: mean ns per request */
  uint64_t cpu_ns, wall_ns;
} worker;

static void run_batch(worker *w, long *next) {
  const ks_engine *e = w->engine;
  int nv = w->opt->visitors;
  long i = *next;
  for (long r = 0; r < w->opt->batch; r++, i++) {
    switch (w->which) {
    case CASE_READ: request_read(e, &w->visitors[i % nv]); break;
    case CASE_WRITE: request_write(e, &w->visitors[i % nv]); break;
    default: request_new(e, NULL); break;
    }
  }
  *next = i;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  if (w->which != CASE_NEW)
    for (int i = 0; i < w->opt->visitors; i++) request_new(w->engine, &w->visitors[i]);
  long next = 0;
  for (int b = 0; b < w->opt->warmup; b++) run_batch(w, &next);
  int rc = pthread_barrier_wait(w->start);
  if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) die("pthread_barrier_wait: %d", rc);
  uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  for (int b = 0; b < w->opt->batches; b++) {
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    run_batch(w, &next);
    w->batch_ns[b] = (now_ns(CLOCK_MONOTONIC) - t0) / (uint64_t)w->opt->batch;
  }
  w->wall_ns = now_ns(CLOCK_MONOTONIC) - wall0;
  w->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  /* The new case keeps no cookies while timed; check that the grown store still round-trips. */
  if (w->which == CASE_NEW)
    for (int i = 0; i < w->opt->visitors; i++) request_new(w->engine, &w->visitors[i]);
  verify_visitors(w->engine, w->visitors, w->opt->visitors);
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t percentile(const uint64_t *sorted, int n, int p) {
  int rank = (p * n + 99) / 100;
  return sorted[rank < 1 ? 0 : rank - 1];
}

/* One timed run of one case at one thread count. */
typedef struct {
  uint64_t *batch_ns; /* every thread's timed batches (mean ns per request each) */
  int n_batches;
  double req_per_s;   /* all threads together, over the slowest thread's timed span */
  double cpu_share;   /* thread CPU time / wall time, averaged over threads: < 0.95 = disturbed */
} run_result;

static ks_engine *make_engine(void) {
  ks_store *store = NULL;
  OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = ks_config_builder_new();
  EXPECT(b != NULL);
  OK(ks_config_builder_add_key(b, (const uint8_t *)"bench signing key", 17));
  ks_engine *e = NULL;
  OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  ks_store_free(store); /* the engine keeps its own reference */
  return e;
}

static run_result run(const options *o, bench_case which, int n_threads) {
  ks_engine *engine = make_engine(); /* fresh store: earlier runs' records don't weigh in */
  pthread_barrier_t start;
  if (pthread_barrier_init(&start, NULL, (unsigned)n_threads + 1) != 0) die("pthread_barrier_init");
  worker workers[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  for (int t = 0; t < n_threads; t++) {
    workers[t] = (worker){.opt = o, .which = which, .engine = engine, .start = &start};
    workers[t].visitors = calloc((size_t)o->visitors, sizeof(visitor));
    workers[t].batch_ns = calloc((size_t)o->batches, sizeof(uint64_t));
    EXPECT(workers[t].visitors && workers[t].batch_ns);
    if (pthread_create(&ids[t], NULL, worker_main, &workers[t]) != 0) die("pthread_create");
  }
  int rc = pthread_barrier_wait(&start);
  if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) die("pthread_barrier_wait: %d", rc);
  for (int t = 0; t < n_threads; t++)
    if (pthread_join(ids[t], NULL) != 0) die("pthread_join");
  pthread_barrier_destroy(&start);

  /* Throughput over the slowest thread's timed span (all started at the barrier). */
  uint64_t wall = 0;
  double cpu_share = 0;
  int n = o->batches * n_threads;
  uint64_t *all = calloc((size_t)n, sizeof(uint64_t));
  EXPECT(all != NULL);
  for (int t = 0; t < n_threads; t++) {
    if (workers[t].wall_ns > wall) wall = workers[t].wall_ns;
    cpu_share += (double)workers[t].cpu_ns / (double)workers[t].wall_ns / n_threads;
    memcpy(all + (size_t)t * (size_t)o->batches, workers[t].batch_ns, (size_t)o->batches * sizeof(uint64_t));
    free(workers[t].visitors);
    free(workers[t].batch_ns);
  }
  ks_engine_free(engine);
  return (run_result){
      .batch_ns = all,
      .n_batches = n,
      .req_per_s = (double)o->batch * o->batches * n_threads / ((double)wall / 1e9),
      .cpu_share = cpu_share,
  };
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median_of(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints one table row: batches pooled over all rounds; req/s, speedup and cpu/wall are
 * medians over rounds (the speedup of each round against the 1-thread run of that round). */
static void report(bench_case which, int threads, run_result *runs, const double *base_req_per_s, int rounds) {
  int total = 0;
  for (int r = 0; r < rounds; r++) total += runs[r].n_batches;
  uint64_t *pooled = calloc((size_t)total, sizeof(uint64_t));
  double req[64], speedup[64], cpu[64];
  EXPECT(pooled != NULL);
  char per_round[256] = "";
  size_t at = 0;
  for (int r = 0, off = 0; r < rounds; off += runs[r].n_batches, r++) {
    memcpy(pooled + off, runs[r].batch_ns, (size_t)runs[r].n_batches * sizeof(uint64_t));
    req[r] = runs[r].req_per_s;
    cpu[r] = runs[r].cpu_share;
    speedup[r] = base_req_per_s ? runs[r].req_per_s / base_req_per_s[r] : 0;
    if (base_req_per_s && at < sizeof per_round - 8)
      at += (size_t)snprintf(per_round + at, sizeof per_round - at, "%s%.2f", r ? " " : "", speedup[r]);
  }
  qsort(pooled, (size_t)total, sizeof(uint64_t), cmp_u64);
  char speed[16] = "-";
  if (base_req_per_s) snprintf(speed, sizeof speed, "%.2fx", median_of(speedup, rounds));
  printf("| %-5s | %7d | %13llu | %5llu | %5llu | %11.0f | %12s | %-24s | %8.2f |\n", CASE_NAMES[which], threads,
         (unsigned long long)percentile(pooled, total, 50), (unsigned long long)percentile(pooled, total, 90),
         (unsigned long long)percentile(pooled, total, 99), median_of(req, rounds), speed,
         base_req_per_s ? per_round : "-", median_of(cpu, rounds));
  fflush(stdout);
  free(pooled);
}

int main(int argc, char **argv) {
  options o = parse_args(argc, argv);
  printf("koa-session C API bench (libkoa_session %s, memory store, signed cookies)\n", ks_version());
  printf("%d rounds; per round and thread count: a fresh engine + store, %d visitors per thread, "
         "%d warm-up + %d timed batches of %ld requests per thread\n",
         o.rounds, o.visitors, o.warmup, o.batches, o.batch);
  printf("ns/req: mean of one batch on one thread; median/p90/p99 over all timed batches of all rounds.\n"
         "req/s: all threads together, median over rounds; speedup: req/s against the 1-thread run of\n"
         "the same round, median over rounds (and each round's); cpu/wall < 0.95: threads were preempted.\n\n");
  printf("| case  | threads | ns/req median |   p90 |   p99 | req/s total | speedup vs 1 | speedup per round        | cpu/wall |\n");
  printf("|-------|---------|---------------|-------|-------|-------------|--------------|--------------------------|----------|\n");
  run_result *runs = calloc((size_t)o.n_threads * (size_t)o.rounds, sizeof(run_result));
  double base[64];
  EXPECT(runs != NULL);
  for (int c = 0; c < o.n_cases; c++) {
    bench_case which = (bench_case)o.cases[c];
    /* Rounds alternate the thread counts, so a slow spell of the machine hits all of them. */
    for (int r = 0; r < o.rounds; r++)
      for (int t = 0; t < o.n_threads; t++) runs[t * o.rounds + r] = run(&o, which, o.threads[t]);
    int one = -1;
    for (int t = 0; t < o.n_threads; t++)
      if (o.threads[t] == 1) one = t;
    for (int r = 0; one >= 0 && r < o.rounds; r++) base[r] = runs[one * o.rounds + r].req_per_s;
    for (int t = 0; t < o.n_threads; t++) {
      report(which, o.threads[t], runs + t * o.rounds, one >= 0 && t != one ? base : NULL, o.rounds);
      for (int r = 0; r < o.rounds; r++) free(runs[t * o.rounds + r].batch_ns);
    }
  }
  free(runs);
  printf("\ncases: ");
  for (int c = 0; c < o.n_cases; c++) printf("%s%s = %s", c ? "; " : "", CASE_NAMES[o.cases[c]], CASE_TITLES[o.cases[c]]);
  printf("\n");
  OK(ks_runtime_shutdown());
  puts("bench: ok");
  return 0;
}
