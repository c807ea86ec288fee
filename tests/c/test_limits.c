/* The depth and size policy and the `cookie` field rule, through the C API: data over a
 * limit is refused when set (INVALID_JSON), data at the limit commits, reloads and stays
 * readable field by field, a `cookie` that is not an object is INVALID_COOKIE_ATTRIBUTE, and
 * a stored record over a limit (or with such a cookie) loads as a new session, CORRUPT. */
#include "test_store.h"

#define MAX_DEPTH 64
#define MAX_BYTES (1024 * 1024)

/* {"d":[[...]]} nested `depth` levels in all (the object is level 1). */
static char *nested(size_t depth) {
  size_t inner = depth - 1, n = 6 + 2 * inner;
  char *s = malloc(n + 1);
  CHECK(s != NULL);
  memcpy(s, "{\"d\":", 5);
  memset(s + 5, '[', inner);
  memset(s + 5 + inner, ']', inner);
  s[5 + 2 * inner] = '}';
  s[n] = 0;
  return s;
}

/* A value nested `depth` levels: [[...]]. */
static char *array(size_t depth) {
  char *s = malloc(2 * depth + 1);
  CHECK(s != NULL);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  s[2 * depth] = 0;
  return s;
}

static ks_set_cookies *commit(ks_session *s) {
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  return c;
}

static void commit_into(ks_session *s, jar *j) {
  ks_set_cookies *c = commit(s);
  jar_apply(j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

static size_t json_len(const ks_session *s) {
  const char *p;
  size_t len;
  CHECK_OK(ks_session_json(s, &p, &len));
  return len;
}

static void refused_when_set(const ks_engine *e) {
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_json(s, "{\"keep\":1}", 10));
  size_t before = json_len(s);
  char *over = nested(MAX_DEPTH + 1);
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, over, strlen(over)));
  free(over);
  char *huge = nested(1000000);
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, huge, strlen(huge)));
  free(huge);
  /* Over 1 MiB: a long string. */
  char *big = malloc(MAX_BYTES + 16);
  CHECK(big != NULL);
  int head = sprintf(big, "{\"b\":\"");
  memset(big + head, 'x', MAX_BYTES);
  strcpy(big + head + MAX_BYTES, "\"}");
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, big, strlen(big)));
  free(big);
  /* A value that would nest the data one level too deep, and one that is deep on its own. */
  char *deep_value = array(MAX_DEPTH);
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_field(s, "d", deep_value, strlen(deep_value)));
  free(deep_value);
  char *deeper = array(130);
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_field(s, "d", deeper, strlen(deeper)));
  free(deeper);
  /* A `cookie` field that is not an object (null means none). */
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_session_set_json(s, "{\"cookie\":5}", 12));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_session_set_json(s, "{\"cookie\":\"x\"}", 14));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_session_set_field(s, "cookie", "[]", 2));
  CHECK(json_len(s) == before); /* every refusal changed nothing */
  CHECK_OK(ks_session_set_field(s, "cookie", "null", 4));
  ks_set_cookies_free(commit(s));
  ks_session_free(s);
}

static void at_the_limit_round_trips(const ks_engine *e) {
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  char *at = nested(MAX_DEPTH);
  CHECK_OK(ks_session_set_json(s, at, strlen(at)));
  commit_into(s, &j);

  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  const char *p;
  size_t len;
  CHECK_OK(ks_session_json(s, &p, &len));
  CHECK(len == strlen(at) && memcmp(p, at, len) == 0);
  /* Every field stays readable and writable. */
  char *buf = malloc(len + 1);
  CHECK(buf != NULL);
  size_t got = 0;
  CHECK_OK(ks_session_get_field(s, "d", buf, len + 1, &got));
  CHECK(got == 2 * (MAX_DEPTH - 1) && buf[0] == '[' && buf[got - 1] == ']');
  free(buf);
  char *value = array(MAX_DEPTH - 1);
  CHECK_OK(ks_session_set_field(s, "e", value, strlen(value)));
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  CHECK_OK(ks_session_remove_field(s, "d"));
  commit_into(s, &j);

  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  char small[8];
  CHECK_OK(ks_session_get_field(s, "n", small, sizeof small, &got));
  CHECK_STR(small, "1");
  char *e_value = malloc(2 * MAX_DEPTH + 1);
  CHECK(e_value != NULL);
  CHECK_OK(ks_session_get_field(s, "e", e_value, 2 * MAX_DEPTH + 1, &got));
  CHECK_STR(e_value, value);
  free(e_value);
  free(value);
  free(at);
  ks_set_cookies_free(commit(s));
  ks_session_free(s);
}

/* Replaces the record the jar's session is stored under (the only one) with `json`. */
static void plant(test_store *ts, const char *json) {
  pthread_mutex_lock(&ts->mu);
  int found = 0;
  for (int i = 0; i < TS_MAX; i++) {
    if (ts->records[i].key) {
      free(ts->records[i].json);
      ts->records[i].json = strdup(json);
      CHECK(ts->records[i].json != NULL);
      found++;
    }
  }
  pthread_mutex_unlock(&ts->mu);
  CHECK(found == 1);
}

static void corrupt_when_loaded(const ks_engine *e, test_store *ts, const char *record) {
  ts_clear(ts);
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  commit_into(s, &j);
  const char *old_cookie = strstr(j.header, "koa.sid=");
  CHECK(old_cookie != NULL);
  char old[40];
  snprintf(old, sizeof old, "%.32s", old_cookie + 8);
  plant(ts, record);

  for (int round = 0; round < 2; round++) {
    s = jar_load(e, &j);
    if (round == 0) {
      CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_CORRUPT);
      CHECK(ks_session_is_new(s));
      const char *id;
      size_t id_len;
      CHECK_OK(ks_session_id(s, &id, &id_len));
      CHECK(strncmp(id, old, 32) != 0); /* a new id, not the client's */
    } else {
      CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED); /* the new session works */
    }
    CHECK_OK(ks_session_set_field(s, "n", "2", 1));
    commit_into(s, &j);
  }
}

int main(void) {
  test_store ts;
  ts_init(&ts, "limits:");
  ks_store *store = ts_register(&ts);
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"limits key", 10));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  ks_store_free(store);

  refused_when_set(e);
  at_the_limit_round_trips(e);
  char *deep = nested(20000);
  corrupt_when_loaded(e, &ts, deep);
  free(deep);
  char *over = nested(MAX_DEPTH + 1);
  corrupt_when_loaded(e, &ts, over);
  free(over);
  corrupt_when_loaded(e, &ts, "{\"cookie\":5,\"n\":1}");

  ks_engine_free(e);
  CHECK_OK(ks_runtime_shutdown());
  ts_deinit(&ts);
  puts("test_limits: ok");
  return 0;
}
