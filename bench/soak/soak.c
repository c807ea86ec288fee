/* Soak: N requests through the C API (blocking load and commit) on the memory store, with
 * the process RSS sampled at the start, after the warm-up and every tenth of the run. Run by
 * hand (`make soak`); prints a table and fails only on a request that goes wrong.
 *
 *   soak [--requests 1000000] [--warmup 100000] [--visitors 10000]
 *
 * The traffic is bench/soak/koa.js's: a fixed pool of visitors in turn; a visitor without a
 * cookie starts a session, the others read it (3 in 4) or write it, one request in 20 logs
 * out (the session is destroyed) and the visitor comes back as a new one. */
#include "koa_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OK(call)                                                                          \
  do {                                                                                    \
    ks_result rc_ = (call);                                                               \
    if (rc_ != KS_RESULT_OK) {                                                            \
      fprintf(stderr, "soak: %s returned %u (%s)\n", #call, (unsigned)rc_, ks_result_message(rc_)); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

typedef struct {
  char cookie[256];
} visitor;

static double rss_mib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
    fprintf(stderr, "soak: cannot read /proc/self/statm\n");
    exit(1);
  }
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double sample(const char *label, long done) {
  double rss = rss_mib();
  printf("| %-16s | %9ld | %8.1f |\n", label, done, rss);
  fflush(stdout);
  return rss;
}

/* The Cookie header after the Set-Cookie values: "name=value" pairs kept, cleared ones dropped. */
static void apply(visitor *v, const ks_set_cookies *c) {
  for (size_t i = 0; i < ks_set_cookies_count(c); i++) {
    const char *value;
    size_t len;
    OK(ks_set_cookies_get(c, i, &value, &len));
    size_t pair = strcspn(value, ";");
    const char *eq = memchr(value, '=', pair);
    size_t name = (size_t)(eq - value);
    char rebuilt[256] = "";
    char copy[256];
    snprintf(copy, sizeof copy, "%s", v->cookie);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
      while (*tok == ' ') tok++;
      if (strncmp(tok, value, name + 1) == 0) continue;
      if (*rebuilt) strcat(rebuilt, "; ");
      strcat(rebuilt, tok);
    }
    if (pair > name + 1) {
      if (*rebuilt) strcat(rebuilt, "; ");
      strncat(rebuilt, value, pair);
    }
    snprintf(v->cookie, sizeof v->cookie, "%s", rebuilt);
  }
}

static long arg(int argc, char **argv, const char *name, long fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
  return fallback;
}

int main(int argc, char **argv) {
  long requests = arg(argc, argv, "--requests", 1000000);
  long warmup = arg(argc, argv, "--warmup", 100000);
  long visitors = arg(argc, argv, "--visitors", 10000);
  visitor *pool = calloc((size_t)visitors, sizeof *pool);
  if (!pool) return 1;

  printf("soak (C API, memory store, blocking calls): %ld requests, %ld visitors, warm-up %ld\n", requests, visitors, warmup);
  printf("| point            |  requests |  RSS MiB |\n|------------------|-----------|----------|\n");
  double start = sample("start", 0), warm = start;
  ks_config_builder *b = ks_config_builder_new();
  OK(ks_config_builder_add_key(b, (const uint8_t *)"soak-key-1", 10));
  ks_store *store = NULL;
  OK(ks_memory_store_new(0, &store));
  ks_engine *e = NULL;
  OK(ks_engine_new(b, store, &e));
  ks_store_free(store);
  ks_config_builder_free(b);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = 1; n <= requests; n++) {
    visitor *v = &pool[n % visitors];
    ks_session *s = NULL;
    OK(ks_session_load(e, (const uint8_t *)v->cookie, strlen(v->cookie), "/", &s));
    if (!s) {
      fprintf(stderr, "soak: no session for path /\n");
      return 1;
    }
    if (!*v->cookie || (n % 4 == 0 && n % 20 != 0)) {
      char count[32];
      snprintf(count, sizeof count, "%ld", n);
      OK(ks_session_set_field(s, "count", count, strlen(count)));
    } else if (n % 20 == 0) {
      OK(ks_session_mark_destroyed(s));
    } else {
      char buf[64];
      size_t len;
      ks_result rc = ks_session_get_field(s, "count", buf, sizeof buf, &len);
      if (rc != KS_RESULT_OK) {
        fprintf(stderr, "soak: request %ld: read %u (%s)\n", n, (unsigned)rc, ks_result_message(rc));
        return 1;
      }
    }
    ks_set_cookies *c = NULL;
    OK(ks_session_commit(s, true, &c));
    apply(v, c);
    ks_set_cookies_free(c);
    ks_session_free(s);
    if (n == warmup) warm = sample("after warm-up", n);
    else if (n % (requests / 10) == 0) sample(n == requests ? "end" : "", n);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double end = rss_mib();
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("\n%ld requests in %.1f s (%.0f req/s); RSS start %.1f MiB, after warm-up %.1f MiB, end %.1f MiB (%+.1f MiB after warm-up)\n",
         requests, secs, (double)requests / secs, start, warm, end, end - warm);
  ks_engine_free(e);
  free(pool);
  return 0;
}
