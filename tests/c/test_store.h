/* A C session store for the tests: a mutex-protected table behind the ks_store_vtable, with
 * switches to make callbacks fail, answer garbage, answer slowly, or wait at a gate. */
#ifndef KS_TEST_STORE_H
#define KS_TEST_STORE_H

#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define TS_MAX 64

typedef struct {
  char *key;
  char *json;
  uint64_t ttl_ms;
} ts_record;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ts_record records[TS_MAX];
  const char *prefix;
  /* Failure injection: a status each callback returns instead of working (0 = work). */
  uint32_t fail_get, fail_set, fail_destroy;
  /* 1: get answers "not json"; 2: bytes that are not UTF-8; 3: OK without writing. */
  int garbage;
  unsigned delay_us;
  bool gate_closed;   /* get and set wait here until it opens */
  int at_gate;        /* callbacks waiting at the gate */
  /* A blocking call made from inside a callback, and what it returned. */
  const ks_engine *probe;
  ks_result probe_result;
  atomic_int calls, drops, calls_at_drop;
  /* Calls of each optional callback, and of set (whole-record writes). */
  atomic_int cas_calls, touch_calls, set_calls;
  uint64_t last_ttl_ms;
} test_store;

static inline void ts_init(test_store *ts, const char *prefix) {
  memset(ts, 0, sizeof *ts);
  pthread_mutex_init(&ts->mu, NULL);
  pthread_cond_init(&ts->cv, NULL);
  ts->prefix = prefix;
  ts->probe_result = (ks_result)-1;
}

static inline void ts_clear(test_store *ts) {
  for (int i = 0; i < TS_MAX; i++) {
    free(ts->records[i].key);
    free(ts->records[i].json);
    ts->records[i].key = ts->records[i].json = NULL;
  }
}

static inline void ts_deinit(test_store *ts) {
  ts_clear(ts);
  pthread_mutex_destroy(&ts->mu);
  pthread_cond_destroy(&ts->cv);
}

static inline int ts_count(test_store *ts) {
  pthread_mutex_lock(&ts->mu);
  int n = 0;
  for (int i = 0; i < TS_MAX; i++) n += ts->records[i].key != NULL;
  pthread_mutex_unlock(&ts->mu);
  return n;
}

/* Called with the lock held. */
static inline ts_record *ts_find(test_store *ts, const char *key) {
  for (int i = 0; i < TS_MAX; i++)
    if (ts->records[i].key && strcmp(ts->records[i].key, key) == 0) return &ts->records[i];
  return NULL;
}

static inline void ts_gate_set(test_store *ts, bool closed) {
  pthread_mutex_lock(&ts->mu);
  ts->gate_closed = closed;
  pthread_cond_broadcast(&ts->cv);
  pthread_mutex_unlock(&ts->mu);
}

/* Waits (up to 60 s) until `n` callbacks are waiting at the gate. */
static inline void ts_wait_at_gate(test_store *ts, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&ts->mu);
  while (ts->at_gate < n) {
    if (pthread_cond_timedwait(&ts->cv, &ts->mu, &until) == ETIMEDOUT) {
      fprintf(stderr, "timed out waiting for %d callbacks at the gate\n", n);
      exit(1);
    }
  }
  pthread_mutex_unlock(&ts->mu);
}

/* Common entry of every callback: checks the key, counts, honours delay and gate. Takes
 * the lock and returns with it held. */
static inline void ts_enter(test_store *ts, const char *key, size_t key_len, bool gated) {
  atomic_fetch_add(&ts->calls, 1);
  CHECK(atomic_load(&ts->drops) == 0);
  CHECK(strlen(key) == key_len);
  CHECK(strncmp(key, ts->prefix, strlen(ts->prefix)) == 0);
  CHECK(key_len == strlen(ts->prefix) + 32);
  if (ts->delay_us) {
    struct timespec d = {(time_t)(ts->delay_us / 1000000), (long)(ts->delay_us % 1000000) * 1000};
    nanosleep(&d, NULL);
  }
  pthread_mutex_lock(&ts->mu);
  if (gated && ts->gate_closed) {
    ts->at_gate++;
    pthread_cond_broadcast(&ts->cv);
    while (ts->gate_closed) pthread_cond_wait(&ts->cv, &ts->mu);
    ts->at_gate--;
  }
}

static uint32_t ts_get(void *ctx, const char *key, size_t key_len, ks_buffer *out) {
  test_store *ts = ctx;
  if (ts->probe) {
    ks_session *s = NULL;
    ts->probe_result = ks_session_load(ts->probe, NULL, 0, "/", &s);
    CHECK(s == NULL);
  }
  ts_enter(ts, key, key_len, true);
  uint32_t status = KS_STORE_STATUS_NOT_FOUND;
  ts_record *r = ts_find(ts, key);
  if (ts->fail_get) {
    /* A nested call that fails: the caller's last-error text must still be the load's. */
    CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_buffer_write(out, NULL, 1));
    status = ts->fail_get;
  } else if (ts->garbage == 1) {
    CHECK_OK(ks_buffer_write(out, (const uint8_t *)"not json", 8));
    status = KS_STORE_STATUS_OK;
  } else if (ts->garbage == 2) {
    CHECK_OK(ks_buffer_write(out, (const uint8_t *)"{\"a\":\"\xff\"}", 9));
    status = KS_STORE_STATUS_OK;
  } else if (ts->garbage == 3) {
    status = KS_STORE_STATUS_OK;
  } else if (r) {
    /* Written in two pieces: the buffer appends. NULL with length 0 is allowed. */
    size_t n = strlen(r->json), half = n / 2;
    CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_buffer_write(out, NULL, 1));
    CHECK_OK(ks_buffer_write(out, NULL, 0));
    CHECK_OK(ks_buffer_write(out, (const uint8_t *)r->json, half));
    CHECK_OK(ks_buffer_write(out, (const uint8_t *)r->json + half, n - half));
    status = KS_STORE_STATUS_OK;
  }
  pthread_mutex_unlock(&ts->mu);
  return status;
}

static uint32_t ts_set(void *ctx, const char *key, size_t key_len, const char *json, size_t json_len,
                       uint64_t ttl_ms) {
  test_store *ts = ctx;
  if (ts->probe) {
    ks_set_cookies *c = NULL;
    ks_session *s = NULL;
    ts->probe_result = ks_session_load(ts->probe, NULL, 0, "/", &s);
    CHECK(s == NULL && c == NULL);
  }
  ts_enter(ts, key, key_len, true);
  atomic_fetch_add(&ts->set_calls, 1);
  CHECK(strlen(json) == json_len && json[0] == '{');
  uint32_t status = ts->fail_set;
  if (!status) {
    ts->last_ttl_ms = ttl_ms;
    ts_record *r = ts_find(ts, key);
    for (int i = 0; !r && i < TS_MAX; i++)
      if (!ts->records[i].key) r = &ts->records[i];
    CHECK(r != NULL);
    if (!r->key) r->key = strdup(key);
    free(r->json);
    r->json = strdup(json);
    r->ttl_ms = ttl_ms;
  }
  pthread_mutex_unlock(&ts->mu);
  return status;
}

static uint32_t ts_destroy(void *ctx, const char *key, size_t key_len) {
  test_store *ts = ctx;
  ts_enter(ts, key, key_len, false);
  uint32_t status = ts->fail_destroy;
  ts_record *r = ts_find(ts, key);
  if (!status && r) {
    free(r->key);
    free(r->json);
    r->key = r->json = NULL;
  }
  pthread_mutex_unlock(&ts->mu);
  return status;
}

/* The optional compare-and-set callback: bytes compared, never parsed. `fail_set` fails it too. */
static inline uint32_t ts_compare_and_set(void *ctx, const char *key, size_t key_len, const char *expected,
                                          size_t expected_len, const char *json, size_t json_len, uint64_t ttl_ms,
                                          ks_buffer *current) {
  test_store *ts = ctx;
  ts_enter(ts, key, key_len, true);
  atomic_fetch_add(&ts->cas_calls, 1);
  CHECK(strlen(expected) == expected_len && strlen(json) == json_len && json[0] == '{');
  uint32_t status = ts->fail_set;
  ts_record *r = ts_find(ts, key);
  if (status) {
  } else if (!r) {
    status = KS_STORE_STATUS_NOT_FOUND;
  } else if (strlen(r->json) != expected_len || memcmp(r->json, expected, expected_len) != 0) {
    CHECK_OK(ks_buffer_write(current, (const uint8_t *)r->json, strlen(r->json)));
    status = KS_STORE_STATUS_CHANGED;
  } else {
    free(r->json);
    r->json = strdup(json);
    r->ttl_ms = ts->last_ttl_ms = ttl_ms;
    status = KS_STORE_STATUS_OK;
  }
  pthread_mutex_unlock(&ts->mu);
  return status;
}

/* The optional touch callback: a new TTL, the record untouched; never creates one. */
static inline uint32_t ts_touch(void *ctx, const char *key, size_t key_len, uint64_t ttl_ms) {
  test_store *ts = ctx;
  ts_enter(ts, key, key_len, false);
  atomic_fetch_add(&ts->touch_calls, 1);
  ts_record *r = ts_find(ts, key);
  uint32_t status = KS_STORE_STATUS_NOT_FOUND;
  if (r) {
    r->ttl_ms = ts->last_ttl_ms = ttl_ms;
    status = KS_STORE_STATUS_OK;
  }
  pthread_mutex_unlock(&ts->mu);
  return status;
}

static void ts_drop(void *ctx) {
  test_store *ts = ctx;
  atomic_store(&ts->calls_at_drop, atomic_load(&ts->calls));
  atomic_fetch_add(&ts->drops, 1);
}

static inline ks_store *ts_register(test_store *ts) {
  ks_store_vtable vt = {ts, ts_get, ts_set, ts_destroy, ts_drop};
  ks_store *store = NULL;
  CHECK_OK(ks_c_store_new(&vt, ts->prefix, &store));
  CHECK(store != NULL);
  return store;
}

/* A C store with the optional compare-and-set and touch callbacks registered. */
static inline ks_store *ts_register_with_cas(test_store *ts) {
  ks_store *store = ts_register(ts);
  CHECK_OK(ks_c_store_set_compare_and_set(store, ts_compare_and_set));
  CHECK_OK(ks_c_store_set_touch(store, ts_touch));
  return store;
}

/* A latch: wait until a counter reaches a value (or fail after 60 s). */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int count;
} latch;

static inline void latch_init(latch *l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->count = 0;
}

static inline void latch_add(latch *l) {
  pthread_mutex_lock(&l->mu);
  l->count++;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

static inline int latch_get(latch *l) {
  pthread_mutex_lock(&l->mu);
  int n = l->count;
  pthread_mutex_unlock(&l->mu);
  return n;
}

static inline void latch_wait(latch *l, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&l->mu);
  while (l->count < n) {
    if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT) {
      fprintf(stderr, "timed out waiting for %d completions (have %d)\n", n, l->count);
      exit(1);
    }
  }
  pthread_mutex_unlock(&l->mu);
}

static inline void latch_destroy(latch *l) {
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
}

#endif
