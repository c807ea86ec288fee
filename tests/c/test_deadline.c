/* Deadlines on C store calls (ks_config_builder_set_store_timeout_ms): a callback that does
 * not return makes the ks_ call that needed it fail with KS_RESULT_STORE_TIMEOUT, blocking
 * and asynchronous calls alike; the abandoned callback is left to finish, its late answer is
 * ignored, and `drop` still runs once, after it returns. With the deadline turned off, a
 * blocking call runs the callback on the caller's own thread. A hang fails the test (alarm). */
#include "test_store.h"

#include <signal.h>
#include <unistd.h>

static const char *PREFIX = "koa:sess:";
static long timeout_ms;

static ks_engine *engine_over(ks_store *store, uint64_t store_timeout_ms) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_set_store_timeout_ms(b, store_timeout_ms));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

/* The last-error text names the operation and the deadline. */
static void check_deadline_text(const char *text, const char *op) {
  char expected[128];
  snprintf(expected, sizeof expected, "session store %s did not answer within %ld ms (storeTimeout)", op, timeout_ms);
  if (strcmp(text, expected) != 0) {
    fprintf(stderr, "last error \"%s\", expected \"%s\"\n", text, expected);
    exit(1);
  }
}

/* A saved session in the store and its cookie in the jar. */
static void save_one(ks_engine *e, jar *j) {
  ks_session *s = jar_load(e, j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  jar_apply(j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

/* Waits (up to 60 s) until the store's drop callback has run. */
static void wait_for_drop(test_store *ts) {
  for (int i = 0; i < 6000 && atomic_load(&ts->drops) == 0; i++) {
    struct timespec d = {0, 10 * 1000 * 1000};
    nanosleep(&d, NULL);
  }
  CHECK(atomic_load(&ts->drops) == 1);
}

static void test_setter(void) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_store_timeout_ms(NULL, 10));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_store_timeout_ms(b, 86400001));
  char msg[256];
  size_t len = 0;
  CHECK_OK(ks_last_error_message(msg, sizeof msg, &len));
  CHECK(strstr(msg, "option \"storeTimeout\"") != NULL && strstr(msg, "86400001") != NULL);
  CHECK_OK(ks_config_builder_set_store_timeout_ms(b, 86400000));
  CHECK_OK(ks_config_builder_set_store_timeout_ms(b, 0));
  CHECK_OK(ks_config_builder_validate(b));
  ks_config_builder_free(b);
}

/* Blocking load and commit past the deadline; the session is intact and the commit can be
 * retried; the abandoned callbacks finish when released and `drop` waits for them. */
static void test_blocking(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store, (uint64_t)timeout_ms);
  jar j = {""};
  save_one(e, &j);
  char text[256];

  /* get never returns while the gate is closed. */
  ts_gate_set(&ts, true);
  ks_session *s = (ks_session *)1;
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &s));
  CHECK(s == (ks_session *)1); /* out-param untouched on failure */
  check_deadline_text(last_error(text, sizeof text), "get");
  ts_wait_at_gate(&ts, 1); /* the callback is still running: it was abandoned, not stopped */

  /* set never returns either: the commit fails, nothing was sent, the session stays usable. */
  ts_gate_set(&ts, false);
  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_OK(ks_session_set_field(s, "n", "2", 1));
  ts_gate_set(&ts, true);
  ks_set_cookies *c = (ks_set_cookies *)1;
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, ks_session_commit(s, true, &c));
  CHECK(c == (ks_set_cookies *)1);
  check_deadline_text(last_error(text, sizeof text), "set");
  ts_wait_at_gate(&ts, 1);

  /* Released, the abandoned set lands (its answer is ignored); a retried commit succeeds. */
  ts_gate_set(&ts, false);
  CHECK_OK(ks_session_commit(s, true, &c));
  ks_set_cookies_free(c);
  ks_session_free(s);

  /* drop runs only after an abandoned callback has returned. */
  ts_gate_set(&ts, true);
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &s));
  ts_wait_at_gate(&ts, 1);
  ks_engine_free(e);
  ks_store_free(store);
  CHECK(atomic_load(&ts.drops) == 0);
  ts_gate_set(&ts, false);
  wait_for_drop(&ts);
  CHECK(atomic_load(&ts.calls_at_drop) == atomic_load(&ts.calls));
  ts_deinit(&ts);
}

typedef struct {
  latch done;
  ks_result result;
  char text[256];
  bool got_object;
} outcome;

static void on_load(void *userdata, ks_result result, ks_session *session) {
  outcome *o = userdata;
  o->result = result;
  last_error(o->text, sizeof o->text);
  o->got_object = session != NULL;
  ks_session_free(session);
  latch_add(&o->done);
}

static void on_commit(void *userdata, ks_result result, ks_set_cookies *cookies) {
  outcome *o = userdata;
  o->result = result;
  last_error(o->text, sizeof o->text);
  o->got_object = cookies != NULL;
  ks_set_cookies_free(cookies);
  latch_add(&o->done);
}

static void test_async(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store, (uint64_t)timeout_ms);
  ks_store_free(store);
  jar j = {""};
  save_one(e, &j);

  outcome o;
  latch_init(&o.done);
  ts_gate_set(&ts, true);
  CHECK_OK(ks_session_load_async(e, (const uint8_t *)j.header, strlen(j.header), "/", on_load, &o));
  latch_wait(&o.done, 1);
  CHECK(o.result == KS_RESULT_STORE_TIMEOUT && !o.got_object);
  check_deadline_text(o.text, "get");
  ts_wait_at_gate(&ts, 1);
  ts_gate_set(&ts, false);

  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "3", 1));
  ts_gate_set(&ts, true);
  CHECK_OK(ks_session_commit_async(s, true, on_commit, &o));
  latch_wait(&o.done, 2);
  CHECK(o.result == KS_RESULT_STORE_TIMEOUT && !o.got_object);
  check_deadline_text(o.text, "set");
  ts_wait_at_gate(&ts, 1);
  ks_session_free(s);

  ts_gate_set(&ts, false);
  ks_engine_free(e);
  wait_for_drop(&ts);
  latch_destroy(&o.done);
  ts_deinit(&ts);
}

/* Which thread ran the last get callback. */
static pthread_t get_thread;
static uint32_t get_recording_thread(void *ctx, const char *key, size_t key_len, ks_buffer *out) {
  get_thread = pthread_self();
  return ts_get(ctx, key, key_len, out);
}

/* With a deadline the callback runs on the engine's pool; without one, a blocking call runs
 * it inline on the caller's thread (no hop), and it works the same. */
static void test_where_callbacks_run(void) {
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store_vtable vt = {&ts, get_recording_thread, ts_set, ts_destroy, ts_drop};
  ks_store *store = NULL;
  CHECK_OK(ks_c_store_new(&vt, PREFIX, &store));
  ks_engine *bounded = engine_over(store, (uint64_t)timeout_ms);
  ks_engine *unbounded = engine_over(store, 0);
  ks_store_free(store);
  jar j = {""};
  save_one(bounded, &j);

  ks_session *s = jar_load(bounded, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK(!pthread_equal(get_thread, pthread_self()));
  ks_session_free(s);

  s = jar_load(unbounded, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK(pthread_equal(get_thread, pthread_self()));
  ks_session_free(s);

  ks_engine_free(bounded);
  ks_engine_free(unbounded);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
}

int main(void) {
  /* A call that never returns would hang the test: fail it instead. */
  alarm(300);
  /* Under valgrind every call is ~50x slower: a longer deadline keeps ordinary calls inside it. */
  timeout_ms = test_count(200, 3000);
  test_setter();
  test_blocking();
  test_async();
  test_where_callbacks_run();
  CHECK_OK(ks_runtime_shutdown());
  printf("test_deadline: ok\n");
  return 0;
}
