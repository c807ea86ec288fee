/* Commits that merge, through the C API: 50 threads that loaded one session each set their
 * own field, and every field stays (the memory store, and a C store with the optional
 * compare-and-set callback); a logout racing a slower request stays a logout; rolling with
 * unchanged data refreshes the TTL through the touch callback without writing the record. */
#include "fan_out.h"
#include "test_store.h"

static ks_engine *engine_over(ks_store *store, bool rolling) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"k", 1));
  CHECK_OK(ks_config_builder_set_rolling(b, rolling));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

static void test_parallel_fields_all_stay(void) {
  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  ks_engine *e = engine_over(memory, false);
  ks_store_free(memory);
  jar j = {""};
  fan_out_start(e, &j);
  CHECK(fan_out(e, &j) == FAN_OUT);
  ks_engine_free(e);

  test_store ts;
  ts_init(&ts, "koa:sess:");
  ks_store *store = ts_register_with_cas(&ts);
  e = engine_over(store, false);
  ks_store_free(store);
  jar j2 = {""};
  fan_out_start(e, &j2);
  int sets = atomic_load(&ts.set_calls);
  CHECK(fan_out(e, &j2) == FAN_OUT);
  CHECK(atomic_load(&ts.set_calls) == sets); /* loaded sessions are never written whole */
  /* Every merge went through compare-and-set; merges that queued up behind another one are
   * written together (a group commit), so there may be fewer calls than merges. */
  CHECK(atomic_load(&ts.cas_calls) >= 1 && atomic_load(&ts.cas_calls) <= FAN_OUT);
  ks_engine_free(e);
  ts_deinit(&ts);
}

static void test_logout_stays_a_logout(void) {
  test_store ts;
  ts_init(&ts, "koa:sess:");
  ks_store *store = ts_register_with_cas(&ts);
  ks_engine *e = engine_over(store, false);
  ks_store_free(store);
  jar j = {""};
  fan_out_start(e, &j);
  ks_session *slow = jar_load(e, &j);
  ks_session *logout = jar_load(e, &j);
  CHECK_OK(ks_session_mark_destroyed(logout));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(logout, true, &c));
  ks_set_cookies_free(c);
  ks_session_free(logout);
  CHECK(ts_count(&ts) == 0);
  CHECK_OK(ks_session_set_field(slow, "late", "1", 1));
  CHECK_OK(ks_session_commit(slow, true, &c));
  CHECK(ts_count(&ts) == 0); /* not re-created */
  const char *cleared = set_cookie_for(c, "koa.sid");
  CHECK(cleared != NULL && strncmp(cleared, "koa.sid=;", 9) == 0);
  ks_set_cookies_free(c);
  ks_session_free(slow);
  ks_engine_free(e);
  ts_deinit(&ts);
}

static void test_rolling_unchanged_is_a_touch(void) {
  test_store ts;
  ts_init(&ts, "koa:sess:");
  ks_store *store = ts_register_with_cas(&ts);
  ks_engine *e = engine_over(store, true);
  ks_store_free(store);
  jar j = {""};
  fan_out_start(e, &j);
  int sets = atomic_load(&ts.set_calls), cas = atomic_load(&ts.cas_calls);
  ks_session *s = jar_load(e, &j);
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  CHECK(set_cookie_for(c, "koa.sid") != NULL); /* the cookie is sent as before */
  ks_set_cookies_free(c);
  ks_session_free(s);
  CHECK(atomic_load(&ts.touch_calls) == 1);
  CHECK(atomic_load(&ts.set_calls) == sets && atomic_load(&ts.cas_calls) == cas);
  ks_engine_free(e);
  ts_deinit(&ts);
}

int main(void) {
  test_parallel_fields_all_stay();
  test_logout_stays_a_logout();
  test_rolling_unchanged_is_a_touch();
  CHECK_OK(ks_runtime_shutdown());
  puts("test_merge: ok");
  return 0;
}
