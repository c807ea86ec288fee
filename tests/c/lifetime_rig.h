/* Shared by the session lifetime tests (test_lifetimes.c, test_renewal.c): an engine clock the
 * test moves by hand, the rig (one store under test and its clock), looks at the store and the
 * session, and the checks of a lifetime option's setter; the run on the Redis stores that
 * tests/c/with_redis.sh starts comes from redis_rig.h. */
#ifndef KS_TEST_LIFETIME_RIG_H
#define KS_TEST_LIFETIME_RIG_H

#include "redis_rig.h"
#include "test_store.h"

#include <stdatomic.h>
#include <stdint.h>

/* The fake clock's start: 2025-06-15 15:06:40 UTC. */
static const int64_t T0 = 1750000000000;
/* The largest value of a lifetime option. */
static const uint64_t TEN_YEARS_MS = 315360000000ULL;

/* ---- The engine clock: unix ms kept in an atomic, moved on by the test */

typedef struct {
  _Atomic int64_t now;
  pthread_t main_thread;
  atomic_int calls, other_thread_calls; /* calls from a thread other than main_thread */
} fake_clock;

static inline int64_t fake_now(void *userdata) {
  fake_clock *c = userdata;
  atomic_fetch_add(&c->calls, 1);
  if (!pthread_equal(pthread_self(), c->main_thread)) atomic_fetch_add(&c->other_thread_calls, 1);
  return atomic_load(&c->now);
}

/* At T0, no calls yet, the calling thread the main one. */
static inline void clock_init(fake_clock *c) {
  atomic_store(&c->now, T0);
  c->main_thread = pthread_self();
  atomic_store(&c->calls, 0);
  atomic_store(&c->other_thread_calls, 0);
}

static inline int64_t now_of(fake_clock *c) { return atomic_load(&c->now); }
static inline void advance(fake_clock *c, int64_t ms) { atomic_fetch_add(&c->now, ms); }

/* ---- One store under test */

typedef struct {
  const char *name;
  const ks_store *store;
  test_store *ts; /* the C store's table, NULL for the native stores */
  fake_clock clock;
} rig;

/* How many records the rig's store holds. */
static inline long records(const rig *r) {
  if (r->ts) return ts_count(r->ts);
  uint64_t n = 0;
  CHECK_OK(ks_store_length(r->store, &n));
  return (long)n;
}

static inline void sid_of(const ks_session *s, char out[33]) {
  const char *id;
  size_t len;
  CHECK_OK(ks_session_id(s, &id, &len));
  CHECK(len == 32);
  memcpy(out, id, len + 1);
}

/* The stored record under the jar's cookie id as the raw engine (no lifetimes) loads it (into
 * `buf`); returns the load report (KS_LOAD_REPORT_MISSING: no record). Nothing is committed. */
static inline ks_load_report raw_record(const ks_engine *raw, const jar *j, char *buf, size_t cap) {
  ks_session *s = jar_load(raw, j);
  ks_load_report report = ks_session_load_report(s);
  size_t len;
  CHECK_OK(ks_session_json_copy(s, buf, cap, &len));
  ks_session_free(s);
  return report;
}

/* ---- Settings */

typedef ks_result (*ms_setter)(ks_config_builder *builder, uint64_t ms);

/* `set` refuses milliseconds past ten years with KS_RESULT_INVALID_ARGUMENT, its error starting
 * with `message` (the option's name and the rule) and naming the value given. */
static inline void check_ms_out_of_range(ks_config_builder *b, ms_setter set, const char *message) {
  const struct {
    uint64_t ms;
    const char *got;
  } bad[] = {{TEN_YEARS_MS + 1, "got 315360000001"}, {(uint64_t)INT64_MAX, "got 9223372036854775807"},
             {(uint64_t)INT64_MAX + 1, "got 9223372036854775808"}, {UINT64_MAX, "got 18446744073709551615"}};
  char why[512];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_RC(KS_RESULT_INVALID_ARGUMENT, set(b, bad[i].ms));
    last_error(why, sizeof why);
    CHECK(strstr(why, message) == why);
    CHECK(strstr(why, bad[i].got) != NULL);
  }
}

/* `set` accepts the bounds, 1 ms and ten years. */
static inline void check_ms_bounds_accepted(ks_config_builder *b, ms_setter set) {
  CHECK_OK(set(b, 1));
  CHECK_OK(set(b, TEN_YEARS_MS));
}

/* An engine on `plain` (a store without compare-and-set) with `b` is refused: nothing is
 * written to the out-pointer, the error names `option` ("option \"idleTimeout\"") and
 * compare-and-set. */
static inline void check_refused_without_cas(const ks_config_builder *b, const ks_store *plain, const char *option) {
  char why[512];
  ks_engine *e = (ks_engine *)1;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_engine_new(b, plain, &e));
  CHECK(e == (ks_engine *)1);
  last_error(why, sizeof why);
  CHECK(strstr(why, option) == why);
  CHECK(strstr(why, "compare-and-set") != NULL);
}

#endif
