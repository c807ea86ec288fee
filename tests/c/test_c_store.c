/* A session store written in C, registered as a vtable: registration errors, the keys and
 * data the callbacks receive, every way a callback can fail, garbage records, blocking calls
 * from inside a callback, and when `drop` runs. */
#include "fan_out.h"
#include "test_store.h"

static const char *PREFIX = "koa:sess:";

static ks_engine *engine_over(ks_store *store) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"k", 1));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

static void commit_and_free(ks_session *s, jar *j) {
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  jar_apply(j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

static void test_registration_errors(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = (ks_store *)1;
  ks_store_vtable vt = {&ts, ts_get, ts_set, ts_destroy, ts_drop};
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_new(NULL, NULL, &store));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_new(&vt, NULL, NULL));
  const char bad[] = {'k', (char)0xc3, 0};
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_c_store_new(&vt, bad, &store));
  vt.get = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_new(&vt, NULL, &store));
  vt.get = ts_get;
  vt.set = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_new(&vt, NULL, &store));
  vt.set = ts_set;
  vt.destroy = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_new(&vt, NULL, &store));
  CHECK(store == (ks_store *)1);
  CHECK(atomic_load(&ts.drops) == 0); /* a failed registration does not take ctx */
  /* drop is optional. */
  vt.destroy = ts_destroy;
  vt.drop = NULL;
  CHECK_OK(ks_c_store_new(&vt, NULL, &store));
  ks_store_free(store);
  CHECK(atomic_load(&ts.drops) == 0);
  ts_deinit(&ts);
}

static void test_round_trip_and_drop(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  ks_store_free(store);
  jar j = {""};

  ks_session *s = jar_load(e, &j);
  CHECK(atomic_load(&ts.calls) == 0); /* no cookie: nothing to read */
  CHECK_OK(ks_session_set_field(s, "views", "1", 1));
  const char *sid;
  size_t len;
  CHECK_OK(ks_session_id(s, &sid, &len));
  char key[64];
  snprintf(key, sizeof key, "%s%s", PREFIX, sid);
  commit_and_free(s, &j);
  CHECK(ts_count(&ts) == 1);
  pthread_mutex_lock(&ts.mu);
  ts_record *r = ts_find(&ts, key);
  CHECK(r != NULL && strstr(r->json, "\"views\":1") != NULL);
  CHECK(r->ttl_ms == 86400000);
  pthread_mutex_unlock(&ts.mu);

  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  char buf[16];
  CHECK_OK(ks_session_get_field(s, "views", buf, sizeof buf, &len));
  CHECK_STR(buf, "1");
  CHECK_OK(ks_session_set_field(s, "views", "2", 1));
  commit_and_free(s, &j);

  /* A session outlives the engine and store handles; drop waits for its last call. */
  s = jar_load(e, &j);
  ks_engine_free(e);
  CHECK(atomic_load(&ts.drops) == 0);
  CHECK_OK(ks_session_mark_destroyed(s));
  int calls_before = atomic_load(&ts.calls);
  commit_and_free(s, &j);
  CHECK(atomic_load(&ts.calls) == calls_before + 1);
  CHECK(ts_count(&ts) == 0);
  CHECK(atomic_load(&ts.drops) == 1);
  CHECK(atomic_load(&ts.calls_at_drop) == atomic_load(&ts.calls));
  ts_deinit(&ts);
}

static void test_failing_callbacks(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  commit_and_free(s, &j);

  /* get: each failure status maps to its result; the out-param is untouched. */
  const uint32_t statuses[] = {KS_STORE_STATUS_UNAVAILABLE, KS_STORE_STATUS_TIMEOUT, KS_STORE_STATUS_REJECTED,
                               KS_STORE_STATUS_ERROR, 99};
  const ks_result results[] = {KS_RESULT_STORE_UNAVAILABLE, KS_RESULT_STORE_TIMEOUT, KS_RESULT_STORE_REJECTED,
                               KS_RESULT_STORE_ERROR, KS_RESULT_STORE_ERROR};
  char why[256], expected[64];
  for (int i = 0; i < 5; i++) {
    ts.fail_get = statuses[i];
    ks_session *out = (ks_session *)1;
    CHECK_RC(results[i], ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &out));
    CHECK(out == (ks_session *)1);
    /* The last-error text is the store's failure, not the callback's own failed call. */
    snprintf(expected, sizeof expected, "C store get: ");
    CHECK(strstr(last_error(why, sizeof why), expected) != NULL);
    snprintf(expected, sizeof expected, "(%u)", (unsigned)statuses[i]);
    CHECK(strstr(why, expected) != NULL);
  }
  /* A request without a cookie never reads the store, so it still works. */
  ks_session *fresh = NULL;
  CHECK_OK(ks_session_load(e, NULL, 0, "/", &fresh));
  ks_session_free(fresh);
  ts.fail_get = 0;
  /* A load that succeeds leaves no text, though its store callback had a call fail. */
  ks_session *back = jar_load(e, &j);
  CHECK_STR(last_error(why, sizeof why), "");
  ks_session_free(back);

  /* set fails: nothing to send, the session stays usable, and a retry succeeds. */
  s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "2", 1));
  ks_set_cookies *c = (ks_set_cookies *)1;
  ts.fail_set = KS_STORE_STATUS_REJECTED;
  CHECK_RC(KS_RESULT_STORE_REJECTED, ks_session_commit(s, true, &c));
  ts.fail_set = KS_STORE_STATUS_NOT_FOUND; /* meaningless for set: an error */
  CHECK_RC(KS_RESULT_STORE_ERROR, ks_session_commit(s, true, &c));
  ts.fail_set = KS_STORE_STATUS_UNAVAILABLE;
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, ks_session_commit(s, true, &c));
  CHECK(c == (ks_set_cookies *)1);
  size_t len;
  char buf[16];
  CHECK_OK(ks_session_get_field(s, "n", buf, sizeof buf, &len));
  CHECK_STR(buf, "2");
  ts.fail_set = 0;
  commit_and_free(s, &j);
  s = jar_load(e, &j);
  CHECK_OK(ks_session_get_field(s, "n", buf, sizeof buf, &len));
  CHECK_STR(buf, "2");

  /* destroy fails: the commit fails and the record stays; NOT_FOUND counts as done. */
  CHECK_OK(ks_session_mark_destroyed(s));
  ts.fail_destroy = KS_STORE_STATUS_ERROR;
  CHECK_RC(KS_RESULT_STORE_ERROR, ks_session_commit(s, true, &c));
  CHECK(ts_count(&ts) == 1);
  ts.fail_destroy = KS_STORE_STATUS_NOT_FOUND;
  ks_session_free(s);
  s = jar_load(e, &j);
  CHECK_OK(ks_session_mark_destroyed(s));
  CHECK_OK(ks_session_commit(s, true, &c));
  ks_set_cookies_free(c);
  ks_session_free(s);
  CHECK(ts_count(&ts) == 1); /* the callback said NOT_FOUND without removing it */
  ts.fail_destroy = 0;
  ts_clear(&ts);

  /* Regenerate: destroying the old record fails, so the commit fails. */
  jar k = {""};
  s = jar_load(e, &k);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  commit_and_free(s, &k);
  s = jar_load(e, &k);
  CHECK_OK(ks_session_regenerate(s));
  CHECK_OK(ks_session_set_field(s, "n", "9", 1));
  ts.fail_destroy = KS_STORE_STATUS_TIMEOUT;
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, ks_session_commit(s, true, &c));
  ts.fail_destroy = 0;
  commit_and_free(s, &k);
  CHECK(ts_count(&ts) == 1);

  ks_engine_free(e);
  ks_store_free(store);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
}

static void test_garbage_records(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  commit_and_free(s, &j);
  const char *sid;
  size_t len;

  /* Not a JSON object, or nothing written: a fresh session under a new id. */
  for (int mode = 1; mode <= 3; mode += 2) {
    ts.garbage = mode;
    s = jar_load(e, &j);
    CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_CORRUPT);
    CHECK(ks_session_is_new(s));
    CHECK_OK(ks_session_id(s, &sid, &len));
    CHECK(strstr(j.header, sid) == NULL);
    ks_session_free(s);
  }
  /* Not UTF-8: the store answered something unusable. */
  ts.garbage = 2;
  ks_session *out = NULL;
  CHECK_RC(KS_RESULT_STORE_ERROR, ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &out));
  CHECK(out == NULL);
  ts.garbage = 0;
  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  ks_session_free(s);
  ks_engine_free(e);
  ks_store_free(store);
  ts_deinit(&ts);
}

static void test_blocking_call_inside_a_callback_is_refused(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  ts.probe = e;
  commit_and_free(s, &j); /* set runs the probe */
  CHECK_RC(KS_RESULT_BLOCKING_IN_RUNTIME, ts.probe_result);
  ts.probe_result = (ks_result)-1;
  s = jar_load(e, &j); /* get runs the probe */
  CHECK_RC(KS_RESULT_BLOCKING_IN_RUNTIME, ts.probe_result);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  ts.probe = NULL;
  ks_session_free(s);
  ks_engine_free(e);
  ks_store_free(store);
  ts_deinit(&ts);
}

/* The optional callbacks: registered separately, once, before any engine uses the store. */
static void test_optional_callbacks(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_compare_and_set(NULL, ts_compare_and_set));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_compare_and_set(store, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_touch(store, NULL));
  CHECK_OK(ks_c_store_set_compare_and_set(store, ts_compare_and_set));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_compare_and_set(store, ts_compare_and_set));
  ks_engine *e = engine_over(store);
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_touch(store, ts_touch));
  ks_engine_free(e);
  CHECK_OK(ks_c_store_set_touch(store, ts_touch));
  ks_store_free(store);
  CHECK(atomic_load(&ts.drops) == 1);
  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_compare_and_set(memory, ts_compare_and_set));
  ks_store_free(memory);
  ts_deinit(&ts);
}

/* A store registered with today's vtable alone keeps working under parallel requests: every
 * commit succeeds with a whole-record write (the last writers' fields are what stays). */
static void test_whole_writes_under_parallel_requests(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  ks_store_free(store);
  jar j = {""};
  fan_out_start(e, &j);
  int kept = fan_out(e, &j);
  CHECK(kept >= 1);
  CHECK(atomic_load(&ts.cas_calls) == 0 && atomic_load(&ts.set_calls) >= FAN_OUT + 1);
  printf("test_c_store: a store without compare-and-set kept %d of %d parallel fields\n", kept, FAN_OUT);
  ks_engine_free(e);
  ts_deinit(&ts);
}

/* A C store has no operator calls: length, ids and clear say so instead of answering 0. */
static void test_operator_calls_not_supported(void) {
  test_store ts;
  ts_init(&ts, "koa:sess:");
  ks_store *store = ts_register(&ts);
  uint64_t n = 42;
  char msg[256];
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_length(store, &n));
  CHECK(strstr(last_error(msg, sizeof msg), "not supported by this store") != NULL);
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_clear(store, &n));
  CHECK(strstr(last_error(msg, sizeof msg), "ks_store_clear: not supported") != NULL);
  CHECK(n == 42);
  ks_ids_cursor *cursor = NULL;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_ids(store, 10, &cursor));
  CHECK(cursor == NULL);
  ks_store_free(store);
  ts_deinit(&ts);
}

int main(void) {
  test_registration_errors();
  test_optional_callbacks();
  test_whole_writes_under_parallel_requests();
  test_round_trip_and_drop();
  test_failing_callbacks();
  test_garbage_records();
  test_operator_calls_not_supported();
  test_blocking_call_inside_a_callback_is_refused();
  CHECK_OK(ks_runtime_shutdown());
  puts("test_c_store: ok");
  return 0;
}
