/* The non-blocking load and commit: they return before the store answers, call back exactly
 * once from a runtime thread, refuse blocking calls there, report store failures through the
 * callback, and keep many slow requests in flight at once. */
#include "test_store.h"

static const char *PREFIX = "sess:";
static pthread_t main_thread;

typedef struct request {
  const ks_engine *engine;
  latch *loaded, *committed;
  atomic_int load_calls, commit_calls;
  ks_result load_result, commit_result;
  ks_session *session;
  ks_set_cookies *cookies;
  ks_result blocking_probe;
  bool commit_from_callback; /* chain the commit inside the load callback */
  bool on_main_thread;
} request;

static void on_commit(void *userdata, ks_result result, ks_set_cookies *cookies) {
  request *r = userdata;
  atomic_fetch_add(&r->commit_calls, 1);
  r->on_main_thread |= pthread_equal(pthread_self(), main_thread);
  r->commit_result = result;
  r->cookies = cookies;
  latch_add(r->committed);
}

static void on_load(void *userdata, ks_result result, ks_session *session) {
  request *r = userdata;
  atomic_fetch_add(&r->load_calls, 1);
  r->on_main_thread |= pthread_equal(pthread_self(), main_thread);
  r->load_result = result;
  r->session = session;
  /* Blocking calls are refused here: this is a runtime thread. */
  ks_session *s = NULL;
  r->blocking_probe = ks_session_load(r->engine, NULL, 0, "/", &s);
  CHECK(s == NULL);
  if (r->commit_from_callback && result == KS_RESULT_OK) {
    ks_set_cookies *c = NULL;
    CHECK_RC(KS_RESULT_BLOCKING_IN_RUNTIME, ks_session_commit(session, true, &c));
    CHECK_OK(ks_session_set_field(session, "async", "true", 4));
    CHECK_OK(ks_session_commit_async(session, true, on_commit, r));
  }
  latch_add(r->loaded);
}

static ks_engine *engine_over(ks_store *store) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"k", 1));
  CHECK_OK(ks_config_builder_set_path(b, "/app"));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

static void test_argument_errors(const ks_engine *e) {
  request r = {0};
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load_async(NULL, NULL, 0, "/app", on_load, &r));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load_async(e, NULL, 0, "/app", NULL, &r));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load_async(e, NULL, 4, "/app", on_load, &r));
  const char bad[] = {'/', (char)0xff, 0};
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_load_async(e, NULL, 0, bad, on_load, &r));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_commit_async(NULL, true, on_commit, &r));
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, NULL, 0, "/app", &s));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_commit_async(s, true, NULL, &r));
  /* The refused commit changed nothing: the session still commits. */
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_commit_async(s, true, on_commit, &r));
  ks_set_cookies_free(c);
  ks_session_free(s);
  CHECK(atomic_load(&r.load_calls) == 0 && atomic_load(&r.commit_calls) == 0);
}

/* Load and commit return while the store is still held at the gate. */
static void test_returns_before_the_store_answers(test_store *ts, const ks_engine *e) {
  latch loaded, committed;
  latch_init(&loaded);
  latch_init(&committed);
  request r = {.engine = e, .loaded = &loaded, .committed = &committed};

  /* A first session, so that the load below has a record to read. */
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, NULL, 0, "/app", &s));
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  ts_gate_set(ts, true);
  CHECK_OK(ks_session_commit_async(s, true, on_commit, &r));
  ks_session_free(s); /* freeing the handle does not cancel the commit */
  ts_wait_at_gate(ts, 1);
  CHECK(latch_get(&committed) == 0);
  ts_gate_set(ts, false);
  latch_wait(&committed, 1);
  CHECK_OK(r.commit_result);
  jar j = {""};
  jar_apply(&j, r.cookies);
  CHECK(ks_set_cookies_count(r.cookies) == 2);
  ks_set_cookies_free(r.cookies);

  ts_gate_set(ts, true);
  CHECK_OK(ks_session_load_async(e, (const uint8_t *)j.header, strlen(j.header), "/app/page", on_load, &r));
  ts_wait_at_gate(ts, 1);
  CHECK(latch_get(&loaded) == 0);
  ts_gate_set(ts, false);
  latch_wait(&loaded, 1);
  CHECK_OK(r.load_result);
  CHECK(r.session != NULL);
  CHECK(ks_session_load_report(r.session) == KS_LOAD_REPORT_LOADED);
  CHECK_RC(KS_RESULT_BLOCKING_IN_RUNTIME, r.blocking_probe);
  char buf[8];
  size_t len;
  CHECK_OK(ks_session_get_field(r.session, "n", buf, sizeof buf, &len));
  CHECK_STR(buf, "1");
  ks_session_free(r.session);
  CHECK(atomic_load(&r.load_calls) == 1 && atomic_load(&r.commit_calls) == 1);
  CHECK(!r.on_main_thread);

  /* Outside the cookie path: OK with no session. */
  request o = {.engine = e, .loaded = &loaded, .committed = &committed};
  CHECK_OK(ks_session_load_async(e, NULL, 0, "/other", on_load, &o));
  latch_wait(&loaded, 2);
  CHECK_OK(o.load_result);
  CHECK(o.session == NULL);
  latch_destroy(&loaded);
  latch_destroy(&committed);
}

static void test_failures_reach_the_callback(test_store *ts, const ks_engine *e) {
  latch loaded, committed;
  latch_init(&loaded);
  latch_init(&committed);
  /* A record to read. */
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, NULL, 0, "/app", &s));
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  jar j = {""};
  jar_apply(&j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);

  request r = {.engine = e, .loaded = &loaded, .committed = &committed};
  ts->fail_get = KS_STORE_STATUS_UNAVAILABLE;
  CHECK_OK(ks_session_load_async(e, (const uint8_t *)j.header, strlen(j.header), "/app", on_load, &r));
  latch_wait(&loaded, 1);
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, r.load_result);
  CHECK(r.session == NULL);
  ts->fail_get = 0;

  CHECK_OK(ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/app", &s));
  CHECK_OK(ks_session_set_field(s, "n", "2", 1));
  ts->fail_set = KS_STORE_STATUS_REJECTED;
  CHECK_OK(ks_session_commit_async(s, true, on_commit, &r));
  latch_wait(&committed, 1);
  CHECK_RC(KS_RESULT_STORE_REJECTED, r.commit_result);
  CHECK(r.cookies == NULL);
  ts->fail_set = 0;
  /* An asynchronous commit spends the session, failed or not. */
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_commit(s, true, &c));
  ks_session_free(s);
  CHECK(atomic_load(&r.load_calls) == 1 && atomic_load(&r.commit_calls) == 1);
  latch_destroy(&loaded);
  latch_destroy(&committed);
}

/* Many requests in flight on a store that takes its time: every callback exactly once. */
static void test_many_slow_requests(test_store *ts, const ks_engine *e) {
  enum { N = 24 };
  latch loaded, committed;
  latch_init(&loaded);
  latch_init(&committed);
  static request reqs[N];
  jar jars[N];
  for (int i = 0; i < N; i++) {
    /* Each request brings its own cookie so every load reads the slow store. */
    ks_session *s = NULL;
    CHECK_OK(ks_session_load(e, NULL, 0, "/app", &s));
    CHECK_OK(ks_session_set_field(s, "i", "0", 1));
    ks_set_cookies *c = NULL;
    CHECK_OK(ks_session_commit(s, true, &c));
    jars[i].header[0] = 0;
    jar_apply(&jars[i], c);
    ks_set_cookies_free(c);
    ks_session_free(s);
  }
  ts->delay_us = 20000;
  for (int i = 0; i < N; i++) {
    reqs[i] = (request){.engine = e, .loaded = &loaded, .committed = &committed, .commit_from_callback = true};
    CHECK_OK(ks_session_load_async(e, (const uint8_t *)jars[i].header, strlen(jars[i].header), "/app", on_load,
                                   &reqs[i]));
  }
  latch_wait(&committed, N);
  ts->delay_us = 0;
  for (int i = 0; i < N; i++) {
    CHECK(atomic_load(&reqs[i].load_calls) == 1);
    CHECK(atomic_load(&reqs[i].commit_calls) == 1);
    CHECK_OK(reqs[i].load_result);
    CHECK_OK(reqs[i].commit_result);
    CHECK(!reqs[i].on_main_thread);
    CHECK(ks_set_cookies_count(reqs[i].cookies) == 2);
    ks_set_cookies_free(reqs[i].cookies);
    ks_session_free(reqs[i].session);
    /* The change made in the callback was stored. */
    ks_session *s = NULL;
    CHECK_OK(ks_session_load(e, (const uint8_t *)jars[i].header, strlen(jars[i].header), "/app", &s));
    char buf[8];
    size_t len;
    CHECK_OK(ks_session_get_field(s, "async", buf, sizeof buf, &len));
    CHECK_STR(buf, "true");
    ks_session_free(s);
  }
  CHECK(latch_get(&loaded) == N);
  latch_destroy(&loaded);
  latch_destroy(&committed);
}

int main(void) {
  main_thread = pthread_self();
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *store = ts_register(&ts);
  ks_engine *e = engine_over(store);
  ks_store_free(store);
  test_argument_errors(e);
  test_returns_before_the_store_answers(&ts, e);
  test_failures_reach_the_callback(&ts, e);
  test_many_slow_requests(&ts, e);
  ks_engine_free(e);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
  CHECK_OK(ks_runtime_shutdown());
  puts("test_async: ok");
  return 0;
}
