/* Parallel requests on one session, as a browser's tabs and fetches make them: N threads all
 * load the same session, wait until every one has loaded it, then each sets its own field
 * and commits. With compare-and-set the commits merge and every field stays; with whole
 * writes each commit replaces the record and only some stay. */
#ifndef KS_TEST_FAN_OUT_H
#define KS_TEST_FAN_OUT_H

#include "check.h"

#include <pthread.h>

enum { FAN_OUT = 50 };

typedef struct {
  const ks_engine *engine;
  const jar *j;
  pthread_barrier_t *loaded;
  int i;
} fan_out_request;

static void *fan_out_one(void *arg) {
  fan_out_request *r = arg;
  ks_session *s = jar_load(r->engine, r->j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  int rc = pthread_barrier_wait(r->loaded);
  CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
  char name[16], value[16];
  snprintf(name, sizeof name, "k%d", r->i);
  int n = snprintf(value, sizeof value, "%d", r->i);
  CHECK_OK(ks_session_set_field(s, name, value, (size_t)n));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  ks_set_cookies_free(c);
  ks_session_free(s);
  return NULL;
}

/* Runs the N requests on the session in `j`; returns how many of the N fields it then holds. */
static inline int fan_out(const ks_engine *e, const jar *j) {
  pthread_t threads[FAN_OUT];
  fan_out_request requests[FAN_OUT];
  pthread_barrier_t loaded;
  CHECK(pthread_barrier_init(&loaded, NULL, FAN_OUT) == 0);
  for (int i = 0; i < FAN_OUT; i++) {
    requests[i] = (fan_out_request){.engine = e, .j = j, .loaded = &loaded, .i = i};
    CHECK(pthread_create(&threads[i], NULL, fan_out_one, &requests[i]) == 0);
  }
  for (int i = 0; i < FAN_OUT; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  pthread_barrier_destroy(&loaded);
  ks_session *s = jar_load(e, j);
  int kept = 0;
  for (int i = 0; i < FAN_OUT; i++) {
    char name[16], buf[16];
    size_t len;
    snprintf(name, sizeof name, "k%d", i);
    ks_result rc = ks_session_get_field(s, name, buf, sizeof buf, &len);
    if (rc == KS_RESULT_OK) {
      CHECK(atoi(buf) == i);
      kept++;
    } else {
      CHECK_RC(KS_RESULT_NOT_FOUND, rc);
    }
  }
  ks_session_free(s);
  return kept;
}

/* A new session with a field, committed; `j` then names it. */
static inline void fan_out_start(const ks_engine *e, jar *j) {
  ks_session *s = jar_load(e, j);
  CHECK_OK(ks_session_set_field(s, "user", "\"ann\"", 5));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  jar_apply(j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

#endif
