/* One engine shared by 8 threads, each running 10,000 requests of its own visitor (visit
 * counter, with a regenerate every 1,000th request); then the same with a C store. Every
 * count must come out exact and no two visitors may ever share an id. */
#include "test_store.h"

enum { THREADS = 8 };

typedef struct {
  const ks_engine *engine;
  long requests;
  long final_count;
  char sid[64];
} worker;

static void *run(void *arg) {
  worker *w = arg;
  jar j = {""};
  char buf[32];
  for (long i = 0; i < w->requests; i++) {
    ks_session *s = NULL;
    CHECK_OK(ks_session_load(w->engine, (const uint8_t *)j.header, strlen(j.header), "/", &s));
    long n = 0;
    size_t len;
    ks_result rc = ks_session_get_field(s, "n", buf, sizeof buf, &len);
    if (rc == KS_RESULT_OK) {
      n = strtol(buf, NULL, 10);
    } else {
      CHECK_RC(KS_RESULT_NOT_FOUND, rc);
      CHECK(i == 0);
    }
    CHECK(n == i);
    if (i > 0 && i % 1000 == 0) {
      /* Regenerate keeps nothing, so carry the count over as an app would at login. */
      CHECK_OK(ks_session_regenerate(s));
    }
    int w_len = snprintf(buf, sizeof buf, "%ld", n + 1);
    CHECK_OK(ks_session_set_field(s, "n", buf, (size_t)w_len));
    ks_set_cookies *c = NULL;
    CHECK_OK(ks_session_commit(s, true, &c));
    CHECK(ks_set_cookies_count(c) == 2);
    jar_apply(&j, c);
    ks_set_cookies_free(c);
    const char *sid;
    CHECK_OK(ks_session_id(s, &sid, &len));
    memcpy(w->sid, sid, len + 1);
    ks_session_free(s);
    w->final_count = n + 1;
  }
  return NULL;
}

static void hammer(const ks_engine *e, long requests) {
  pthread_t threads[THREADS];
  worker workers[THREADS];
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (worker){.engine = e, .requests = requests};
    CHECK(pthread_create(&threads[t], NULL, run, &workers[t]) == 0);
  }
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  for (int t = 0; t < THREADS; t++) {
    CHECK(workers[t].final_count == requests);
    for (int u = 0; u < t; u++) CHECK(strcmp(workers[t].sid, workers[u].sid) != 0);
  }
}

static ks_engine *engine_over(ks_store *store) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"new", 3));
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"old", 3));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

int main(void) {
  long requests = test_count(10000, 300);
  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  ks_engine *e = engine_over(memory);
  hammer(e, requests);
  ks_engine_free(e);
  ks_store_free(memory);
  printf("test_threads: %d threads x %ld requests on the memory store\n", THREADS, requests);

  test_store ts;
  ts_init(&ts, "t:");
  ks_store *c_store = ts_register(&ts);
  e = engine_over(c_store);
  ks_store_free(c_store);
  long c_requests = test_count(2000, 100);
  hammer(e, c_requests);
  CHECK(ts_count(&ts) == THREADS); /* regenerated records were destroyed */
  ks_engine_free(e);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
  printf("test_threads: %d threads x %ld requests on a C store\n", THREADS, c_requests);

  CHECK_OK(ks_runtime_shutdown());
  puts("test_threads: ok");
  return 0;
}
