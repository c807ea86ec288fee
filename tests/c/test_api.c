/* The C API end to end through the memory store: configuration, the life of a request,
 * session data, cookies, and every NULL / invalid-UTF-8 / wrong-value argument. */
#include "check.h"

#include <pthread.h>

#include <stdint.h>

static const char BAD_UTF8[] = {'k', (char)0xff, 's', 0};

/* One request: load with the jar's cookies, let `body` change the session, commit, and apply
 * the Set-Cookie values to the jar. Returns the cookies (caller frees). */
static ks_session *load(const ks_engine *e, jar *j, const char *path) {
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, (const uint8_t *)j->header, strlen(j->header), path, &s));
  return s;
}

static ks_set_cookies *commit(ks_session *s, jar *j) {
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  CHECK(c != NULL);
  if (j) jar_apply(j, c);
  return c;
}

static void commit_and_free(ks_session *s, jar *j, size_t expected_cookies) {
  ks_set_cookies *c = commit(s, j);
  CHECK(ks_set_cookies_count(c) == expected_cookies);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

static char *field(const ks_session *s, const char *key) {
  static char buf[256];
  size_t len = 0;
  ks_result rc = ks_session_get_field(s, key, buf, sizeof buf, &len);
  if (rc == KS_RESULT_NOT_FOUND) return NULL;
  CHECK_OK(rc);
  CHECK(strlen(buf) == len);
  return buf;
}

static ks_engine *make_engine(ks_config_builder *b, ks_store *store) {
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  CHECK(e != NULL);
  return e;
}

static ks_config_builder *signed_builder(const char *key) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)key, strlen(key)));
  return b;
}

static void test_messages_and_version(void) {
  CHECK_STR(ks_version(), "0.1.0");
  CHECK_STR(ks_result_message(KS_RESULT_OK), "ok");
  for (uint32_t code = 1; code <= KS_RESULT_INVALID_USER_ID; code++) {
    const char *m = ks_result_message(code);
    CHECK(m != NULL && strlen(m) > 5);
    CHECK(strcmp(m, "unknown ks_result code") != 0);
  }
  CHECK_STR(ks_result_message(KS_RESULT_INVALID_USER_ID + 1), "unknown ks_result code");
  CHECK_STR(ks_result_message(UINT32_MAX), "unknown ks_result code");
  CHECK_STR(ks_result_message(KS_RESULT_SECURE_COOKIE_OVER_HTTP),
            "Cannot send secure cookie over unencrypted connection");
}

static void test_config_builder_arguments(void) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  /* NULL builder for every setter. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_cookie_name(NULL, "a"));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_add_key(NULL, (const uint8_t *)"k", 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_clear_keys(NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_path(NULL, "/"));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_domain(NULL, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_max_age_ms(NULL, 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_expires_ms(NULL, 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_http_only(NULL, true));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_secure(NULL, true));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_same_site(NULL, KS_SAME_SITE_LAX));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_priority(NULL, KS_PRIORITY_HIGH));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_partitioned(NULL, true));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_rolling(NULL, true));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_allow_empty(NULL, true));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_default_ttl_ms(NULL, 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_validate(NULL));
  /* NULL and invalid values. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_cookie_name(b, NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_config_builder_set_cookie_name(b, BAD_UTF8));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_NAME, ks_config_builder_set_cookie_name(b, ""));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_NAME, ks_config_builder_set_cookie_name(b, "a;b"));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_NAME, ks_config_builder_set_cookie_name(b, "a=b"));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_add_key(b, NULL, 3));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_add_key(b, NULL, 0));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_add_key(b, (const uint8_t *)"", 0));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_config_builder_set_path(b, BAD_UTF8));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_config_builder_set_path(b, "/a;b"));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_config_builder_set_path(b, "/a\r\nX: y"));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_config_builder_set_domain(b, BAD_UTF8));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_config_builder_set_domain(b, "a.com; secure"));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_max_age_ms(b, -1));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_expires_ms(b, -5));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_same_site(b, 4));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_same_site(b, UINT32_MAX));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_priority(b, 4));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_default_ttl_ms(b, 0));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_default_ttl_ms(b, -1));
  /* Failed setters changed nothing: the defaults still validate and behave. */
  CHECK_OK(ks_config_builder_validate(b));
  CHECK_OK(ks_config_builder_set_path(b, NULL));
  CHECK_OK(ks_config_builder_set_path(b, "/"));
  ks_config_builder_free(b);
  ks_config_builder_free(NULL);

  ks_store *store = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_memory_store_new(0, NULL));
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_engine *e = NULL;
  b = ks_config_builder_new();
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_engine_new(NULL, store, &e));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_engine_new(b, NULL, &e));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_engine_new(b, store, NULL));
  CHECK(e == NULL);
  ks_config_builder_free(b);
  ks_store_free(store);
  ks_store_free(NULL);
  ks_engine_free(NULL);
}

static void test_request_arguments(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = signed_builder("secret");
  ks_engine *e = make_engine(b, store);
  ks_session *s = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load(NULL, NULL, 0, "/", &s));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load(e, NULL, 0, "/", NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_load(e, NULL, 5, "/", &s));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_load(e, NULL, 0, BAD_UTF8, &s));
  CHECK(s == NULL);
  /* A Cookie header that is not UTF-8 is just a request without a usable session cookie. */
  const char junk[] = "koa.sid=\xff\xfe; x=\x80";
  CHECK_OK(ks_session_load(e, (const uint8_t *)junk, sizeof junk - 1, "/", &s));
  CHECK(s != NULL);

  const char *p = NULL;
  size_t len = 0;
  char buf[8];
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_id(NULL, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_id(s, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_id(s, &p, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_json(NULL, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_json(s, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_json(s, &p, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_json_copy(NULL, buf, sizeof buf, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_json_copy(s, buf, sizeof buf, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_json(NULL, "{}", 2));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_json(s, NULL, 2));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_get_field(NULL, "a", buf, sizeof buf, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_get_field(s, NULL, buf, sizeof buf, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_get_field(s, "cookie", buf, sizeof buf, NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_get_field(s, BAD_UTF8, buf, sizeof buf, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_field(NULL, "a", "1", 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_field(s, NULL, "1", 1));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_field(s, "a", NULL, 1));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_set_field(s, BAD_UTF8, "1", 1));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_set_field(s, "a", "\"\xff\"", 3));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_remove_field(NULL, "a"));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_remove_field(s, NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_remove_field(s, BAD_UTF8));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_mark_destroyed(NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_regenerate(NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_set_save(NULL, KS_SAVE_MODE_FORCE));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_session_set_save(s, 3));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_session_set_save(s, UINT32_MAX));
  ks_set_cookies *c = NULL;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_commit(NULL, true, &c));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_session_commit(s, true, NULL));
  CHECK(!ks_session_is_new(NULL));
  CHECK(!ks_session_is_destroyed(NULL));
  CHECK(ks_session_load_report(NULL) == KS_LOAD_REPORT_NO_COOKIE);
  CHECK(ks_set_cookies_count(NULL) == 0);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_set_cookies_get(NULL, 0, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_buffer_write(NULL, (const uint8_t *)"x", 1));

  /* None of the failed calls above changed the session: nothing is saved, and the only
   * cookies sent clear the unusable one the client sent. */
  CHECK(ks_session_is_new(s));
  c = commit(s, NULL);
  CHECK(ks_set_cookies_count(c) == 2);
  CHECK(strstr(set_cookie_for(c, "koa.sid"), "koa.sid=; path=/; expires=Thu, 01 Jan 1970") != NULL);
  CHECK(set_cookie_for(c, "koa.sid.sig") != NULL);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_set_cookies_get(c, 0, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_set_cookies_get(c, 0, &p, NULL));
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_set_cookies_get(c, 2, &p, &len));
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_set_cookies_get(c, SIZE_MAX, &p, &len));
  ks_set_cookies_free(c);
  ks_set_cookies_free(NULL);
  ks_session_free(s);
  ks_session_free(NULL);
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
}

static void test_visits_and_data(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(100, &store));
  ks_config_builder *b = signed_builder("keys");
  ks_engine *e = make_engine(b, store);
  ks_store_free(store); /* the engine keeps its own reference */
  jar j = {""};

  /* First visit: a fresh session, nothing saved until it changes. */
  ks_session *s = load(e, &j, "/");
  CHECK(ks_session_is_new(s));
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_NO_COOKIE);
  const char *sid;
  size_t sid_len;
  CHECK_OK(ks_session_id(s, &sid, &sid_len));
  CHECK(sid_len == 32 && strlen(sid) == 32);
  char first_sid[64];
  memcpy(first_sid, sid, sid_len + 1);
  const char *json;
  size_t json_len;
  CHECK_OK(ks_session_json(s, &json, &json_len));
  const char *fresh = "{\"cookie\":{\"httpOnly\":true,\"maxAge\":86400000,\"overwrite\":true,"
                      "\"path\":\"/\",\"secure\":false,\"signed\":true}}";
  CHECK(json_len == strlen(fresh) && memcmp(json, fresh, json_len) == 0);
  CHECK(field(s, "views") == NULL);
  CHECK_OK(ks_session_set_field(s, "views", "1", 1));
  ks_set_cookies *c = commit(s, &j);
  CHECK(ks_set_cookies_count(c) == 2);
  const char *v = set_cookie_for(c, "koa.sid");
  CHECK(v != NULL && strncmp(v + 8, first_sid, 32) == 0);
  CHECK(strstr(v, "; path=/; expires=") != NULL && strstr(v, "; httponly") != NULL);
  CHECK(set_cookie_for(c, "koa.sid.sig") != NULL);
  /* Committed: the id is still readable, everything else says FINISHED. */
  CHECK_OK(ks_session_id(s, &sid, &sid_len));
  CHECK_STR(sid, first_sid);
  ks_set_cookies *c2 = NULL;
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_commit(s, true, &c2));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_json(s, &json, &json_len));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_set_field(s, "a", "1", 1));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_set_json(s, "{}", 2));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_regenerate(s));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_mark_destroyed(s));
  CHECK_RC(KS_RESULT_SESSION_FINISHED, ks_session_set_save(s, KS_SAVE_MODE_FORCE));
  CHECK(!ks_session_is_new(s));
  ks_set_cookies_free(c);
  ks_session_free(s);

  /* Second visit: loaded, counter readable; unchanged data sends nothing. */
  s = load(e, &j, "/");
  CHECK(!ks_session_is_new(s));
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_STR(field(s, "views"), "1");
  commit_and_free(s, &j, 0);

  /* Fields of every JSON type; the caller-buffer rules. */
  s = load(e, &j, "/");
  CHECK_OK(ks_session_set_field(s, "user", "\"alice\"", 7));
  CHECK_OK(ks_session_set_field(s, "tags", "[1, \"x\"]", 8));
  CHECK_STR(field(s, "user"), "\"alice\"");
  CHECK_STR(field(s, "tags"), "[1,\"x\"]");
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_field(s, "bad", "{nope", 5));
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_field(s, "bad", "", 0));
  CHECK(field(s, "bad") == NULL);
  size_t need = 0;
  char small[4] = "abc";
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_session_get_field(s, "user", small, sizeof small, &need));
  CHECK(need == 7 && strcmp(small, "abc") == 0);
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_session_get_field(s, "user", NULL, 0, &need));
  CHECK(need == 7);
  char exact[8];
  CHECK_OK(ks_session_get_field(s, "user", exact, 8, &need));
  CHECK_STR(exact, "\"alice\"");
  CHECK_RC(KS_RESULT_NOT_FOUND, ks_session_get_field(s, "nope", exact, 8, &need));
  CHECK_OK(ks_session_remove_field(s, "tags"));
  CHECK_OK(ks_session_remove_field(s, "tags"));
  CHECK(field(s, "tags") == NULL);
  /* The whole JSON: sizes, copies, replacement, and refused replacements change nothing. */
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_session_json_copy(s, NULL, 0, &need));
  char *copy = malloc(need + 1);
  CHECK(copy != NULL);
  size_t got = 0;
  CHECK_OK(ks_session_json_copy(s, copy, need + 1, &got));
  CHECK(got == need && strlen(copy) == need);
  CHECK(strstr(copy, "\"views\":1") && strstr(copy, "\"user\":\"alice\""));
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, "[1,2]", 5));
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, "{\"a\":", 5));
  CHECK_RC(KS_RESULT_INVALID_JSON, ks_session_set_json(s, "null", 4));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_session_set_json(s, "{\"a\":\"\xc3\"}", 9));
  CHECK_OK(ks_session_json(s, &json, &json_len));
  CHECK(json_len == need && memcmp(json, copy, need) == 0);
  /* Not NUL-terminated input: only json_len bytes count. */
  const char longer[] = "{\"views\":7}garbage";
  CHECK_OK(ks_session_set_json(s, longer, 11));
  CHECK_STR(field(s, "views"), "7");
  CHECK(field(s, "user") == NULL);
  free(copy);
  commit_and_free(s, &j, 2);
  s = load(e, &j, "/");
  CHECK_STR(field(s, "views"), "7");
  ks_session_free(s); /* freed without commit: nothing written, nothing sent */

  /* Destroy: both cookies cleared, the record gone. */
  s = load(e, &j, "/");
  CHECK(!ks_session_is_destroyed(s));
  CHECK_OK(ks_session_mark_destroyed(s));
  CHECK(ks_session_is_destroyed(s));
  CHECK_RC(KS_RESULT_SESSION_DESTROYED, ks_session_json(s, &json, &json_len));
  CHECK_RC(KS_RESULT_SESSION_DESTROYED, ks_session_json_copy(s, exact, 8, &need));
  CHECK_RC(KS_RESULT_SESSION_DESTROYED, ks_session_get_field(s, "views", exact, 8, &need));
  CHECK_RC(KS_RESULT_SESSION_DESTROYED, ks_session_set_field(s, "views", "1", 1));
  CHECK_RC(KS_RESULT_SESSION_DESTROYED, ks_session_remove_field(s, "views"));
  jar before = j;
  c = commit(s, &j);
  CHECK(ks_set_cookies_count(c) == 2);
  CHECK(strstr(set_cookie_for(c, "koa.sid"), "koa.sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT") != NULL);
  CHECK(strstr(set_cookie_for(c, "koa.sid.sig"), "koa.sid.sig=; path=/; expires=Thu, 01 Jan 1970") != NULL);
  CHECK_STR(j.header, "");
  ks_set_cookies_free(c);
  ks_session_free(s);
  /* The old cookies now name no record: a new session, and the stale cookies are cleared. */
  s = load(e, &before, "/");
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_MISSING);
  CHECK(ks_session_is_new(s));
  CHECK(field(s, "views") == NULL);
  commit_and_free(s, &before, 2);
  CHECK_STR(before.header, "");

  /* Destroy undone by new data. */
  s = load(e, &j, "/");
  CHECK_OK(ks_session_mark_destroyed(s));
  CHECK_OK(ks_session_set_json(s, "{\"back\":true}", 13));
  CHECK(!ks_session_is_destroyed(s));
  commit_and_free(s, &j, 2);
  s = load(e, &j, "/");
  CHECK_STR(field(s, "back"), "true");
  ks_session_free(s);

  ks_engine_free(e);
  ks_config_builder_free(b);
}

static void test_regenerate_save_modes_and_tampering(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = signed_builder("keys");
  ks_engine *e = make_engine(b, store);
  jar j = {""};
  ks_session *s = load(e, &j, "/");
  CHECK_OK(ks_session_set_field(s, "user", "\"anon\"", 6));
  commit_and_free(s, &j, 2);
  jar old = j;

  /* Regenerate: new id, fresh data, the old record destroyed at commit. */
  s = load(e, &j, "/");
  const char *sid;
  size_t len;
  CHECK_OK(ks_session_id(s, &sid, &len));
  char before[64];
  memcpy(before, sid, len + 1);
  CHECK_OK(ks_session_regenerate(s));
  CHECK_OK(ks_session_id(s, &sid, &len));
  CHECK(len == 32 && strcmp(sid, before) != 0);
  CHECK(ks_session_is_new(s));
  CHECK(field(s, "user") == NULL);
  CHECK_OK(ks_session_set_field(s, "user", "\"alice\"", 7));
  commit_and_free(s, &j, 2);
  CHECK(strstr(j.header, before) == NULL);
  s = load(e, &old, "/");
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_MISSING);
  ks_session_free(s);
  s = load(e, &j, "/");
  CHECK_STR(field(s, "user"), "\"alice\"");

  /* SKIP: a change is neither saved nor sent. FORCE: sent and saved though unchanged. */
  CHECK_OK(ks_session_set_field(s, "user", "\"mallory\"", 9));
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_SKIP));
  commit_and_free(s, &j, 0);
  s = load(e, &j, "/");
  CHECK_STR(field(s, "user"), "\"alice\"");
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_FORCE));
  commit_and_free(s, &j, 2);
  s = load(e, &j, "/");
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_SKIP));
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_DEFAULT));
  commit_and_free(s, &j, 2);

  /* A tampered signature, or a cookie without its signature: a fresh session, cookies cleared. */
  char tampered[1024];
  snprintf(tampered, sizeof tampered, "%s", j.header);
  char *sig = strstr(tampered, "koa.sid.sig=");
  CHECK(sig != NULL);
  sig[12] = sig[12] == 'A' ? 'B' : 'A';
  jar t;
  snprintf(t.header, sizeof t.header, "%s", tampered);
  s = load(e, &t, "/");
  CHECK(ks_session_is_new(s));
  CHECK(field(s, "user") == NULL);
  CHECK_OK(ks_session_id(s, &sid, &len));
  CHECK(strstr(j.header, sid) == NULL);
  commit_and_free(s, &t, 2);
  CHECK_STR(t.header, "");
  char *semi = strchr(tampered, ';');
  *semi = 0; /* just "koa.sid=<sid>" */
  snprintf(t.header, sizeof t.header, "%s", tampered);
  s = load(e, &t, "/");
  CHECK(ks_session_is_new(s) && field(s, "user") == NULL);
  ks_session_free(s);
  /* The genuine cookie still works. */
  s = load(e, &j, "/");
  CHECK_STR(field(s, "user"), "\"alice\"");
  ks_session_free(s);

  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
}

static void test_key_rotation(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *old_b = signed_builder("old-key");
  ks_engine *old_e = make_engine(old_b, store);
  jar j = {""};
  ks_session *s = load(old_e, &j, "/");
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  commit_and_free(s, &j, 2);

  /* New key first, old key still accepted: loaded, and only the signature is re-sent. */
  ks_config_builder *b = signed_builder("new-key");
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"old-key", 7));
  ks_engine *e = make_engine(b, store);
  s = load(e, &j, "/");
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_STR(field(s, "n"), "1");
  ks_set_cookies *c = commit(s, &j);
  CHECK(ks_set_cookies_count(c) == 1);
  CHECK(set_cookie_for(c, "koa.sid.sig") != NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  /* Re-signed: the new key alone accepts it now; the old key alone does not. */
  ks_config_builder *new_only = signed_builder("new-key");
  ks_engine *new_e = make_engine(new_only, store);
  s = load(new_e, &j, "/");
  CHECK_STR(field(s, "n"), "1");
  ks_session_free(s);
  s = load(old_e, &j, "/");
  CHECK(field(s, "n") == NULL);
  ks_session_free(s);

  /* No keys: unsigned, one cookie; clear_keys returns a builder to unsigned. */
  CHECK_OK(ks_config_builder_clear_keys(b));
  ks_engine *unsigned_e = make_engine(b, store);
  jar u = {""};
  s = load(unsigned_e, &u, "/");
  CHECK_OK(ks_session_set_field(s, "n", "2", 1));
  c = commit(s, &u);
  CHECK(ks_set_cookies_count(c) == 1 && set_cookie_for(c, "koa.sid") != NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  s = load(unsigned_e, &u, "/");
  CHECK_STR(field(s, "n"), "2");
  ks_session_free(s);

  ks_engine_free(unsigned_e);
  ks_engine_free(new_e);
  ks_engine_free(e);
  ks_engine_free(old_e);
  ks_config_builder_free(new_only);
  ks_config_builder_free(b);
  ks_config_builder_free(old_b);
  ks_store_free(store);
}

static void test_cookie_attributes_and_rules(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = signed_builder("k");
  CHECK_OK(ks_config_builder_set_cookie_name(b, "app.sess"));
  CHECK_OK(ks_config_builder_set_path(b, "/app"));
  CHECK_OK(ks_config_builder_set_domain(b, "example.com"));
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_STRICT));
  CHECK_OK(ks_config_builder_set_priority(b, KS_PRIORITY_HIGH));
  CHECK_OK(ks_config_builder_set_secure(b, true));
  CHECK_OK(ks_config_builder_set_partitioned(b, true));
  CHECK_OK(ks_config_builder_set_http_only(b, false));
  CHECK_OK(ks_config_builder_set_max_age_ms(b, 0));
  CHECK_OK(ks_config_builder_set_default_ttl_ms(b, 60000));
  CHECK_OK(ks_config_builder_validate(b));
  ks_engine *e = make_engine(b, store);

  /* Outside the cookie path there is no session; inside it (by segment) there is. */
  jar j = {""};
  ks_session *s = (ks_session *)1;
  CHECK_OK(ks_session_load(e, NULL, 0, "/apple", &s));
  CHECK(s == NULL);
  CHECK_OK(ks_session_load(e, NULL, 0, "/", &s));
  CHECK(s == NULL);
  s = load(e, &j, "/app/x?y=1");
  CHECK(s != NULL);
  CHECK_OK(ks_session_set_field(s, "a", "1", 1));
  /* A secure cookie over plain HTTP is refused, and the session stays usable. */
  ks_set_cookies *c = NULL;
  CHECK_RC(KS_RESULT_SECURE_COOKIE_OVER_HTTP, ks_session_commit(s, true, &c));
  CHECK(c == NULL);
  CHECK_STR(field(s, "a"), "1");
  CHECK_OK(ks_session_commit(s, false, &c));
  const char *v = set_cookie_for(c, "app.sess");
  CHECK(v != NULL);
  CHECK(strstr(v, "; path=/app; domain=example.com; priority=high; samesite=strict; secure; partitioned") != NULL);
  CHECK(strstr(v, "expires=") == NULL); /* maxAge 0: a browser-session cookie */
  CHECK(strstr(v, "httponly") == NULL);
  CHECK(set_cookie_for(c, "app.sess.sig") != NULL);
  jar_apply(&j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
  s = load(e, &j, "/app");
  CHECK_STR(field(s, "a"), "1");
  ks_session_free(s);
  ks_engine_free(e);

  /* Absolute expiry; other SameSite / Priority values. SameSite=None without Secure is
   * refused when the engine is made (test_options.c has the details). */
  CHECK_OK(ks_config_builder_set_expires_ms(b, 4102444800000LL)); /* 2100-01-01 */
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_NONE));
  CHECK_OK(ks_config_builder_set_priority(b, KS_PRIORITY_LOW));
  CHECK_OK(ks_config_builder_set_secure(b, false));
  CHECK_OK(ks_config_builder_set_partitioned(b, false));
  CHECK_OK(ks_config_builder_set_domain(b, NULL));
  e = NULL;
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_engine_new(b, store, &e));
  CHECK(e == NULL);
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_STRICT));
  e = make_engine(b, store);
  jar k = {""};
  s = load(e, &k, "/app");
  CHECK_OK(ks_session_set_field(s, "a", "2", 1));
  c = commit(s, &k);
  v = set_cookie_for(c, "app.sess");
  CHECK(strstr(v, "; path=/app; expires=Fri, 01 Jan 2100 00:00:00 GMT; priority=low; samesite=strict") != NULL);
  CHECK(strstr(v, "domain=") == NULL && strstr(v, "secure") == NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  ks_engine_free(e);
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_LAX));
  CHECK_OK(ks_config_builder_set_priority(b, KS_PRIORITY_MEDIUM));
  e = make_engine(b, store);
  s = load(e, &k, "/app");
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_FORCE));
  c = commit(s, &k);
  v = set_cookie_for(c, "app.sess");
  CHECK(strstr(v, "priority=medium; samesite=lax") != NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  ks_engine_free(e);
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_UNSET));
  CHECK_OK(ks_config_builder_set_priority(b, KS_PRIORITY_UNSET));
  e = make_engine(b, store);
  s = load(e, &k, "/app");
  CHECK_OK(ks_session_set_save(s, KS_SAVE_MODE_FORCE));
  c = commit(s, &k);
  v = set_cookie_for(c, "app.sess");
  CHECK(strstr(v, "priority") == NULL && strstr(v, "samesite") == NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  ks_engine_free(e);
  ks_config_builder_free(b);

  /* allowEmpty: a new, untouched session is saved. rolling: an unchanged one is re-sent. */
  b = signed_builder("k");
  CHECK_OK(ks_config_builder_set_allow_empty(b, true));
  e = make_engine(b, store);
  jar r = {""};
  commit_and_free(load(e, &r, "/"), &r, 2);
  ks_engine_free(e);
  CHECK_OK(ks_config_builder_set_allow_empty(b, false));
  e = make_engine(b, store);
  commit_and_free(load(e, &r, "/"), &r, 0); /* loaded and unchanged */
  ks_engine_free(e);
  CHECK_OK(ks_config_builder_set_rolling(b, true));
  e = make_engine(b, store);
  commit_and_free(load(e, &r, "/"), &r, 2);
  ks_engine_free(e);
  /* A per-session cookie option ("remember me"): maxAge taken from the session's JSON. */
  CHECK_OK(ks_config_builder_set_rolling(b, false));
  e = make_engine(b, store);
  s = load(e, &r, "/");
  CHECK_OK(ks_session_set_field(s, "cookie", "{\"maxAge\":0}", 12));
  c = commit(s, &r);
  CHECK(strstr(set_cookie_for(c, "koa.sid"), "expires=") == NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);
  /* ...and one that cannot be honoured is reported at commit, before anything is written. */
  s = load(e, &r, "/");
  CHECK_OK(ks_session_set_field(s, "cookie", "{\"secure\":true}", 15));
  CHECK_RC(KS_RESULT_SECURE_COOKIE_OVER_HTTP, ks_session_commit(s, true, &c));
  ks_session_free(s);
  s = load(e, &r, "/");
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_STR(field(s, "cookie"), "{\"maxAge\":0}"); /* the refused change was not stored */
  ks_session_free(s);
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
}

static void test_memory_store_limit(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(2, &store));
  ks_config_builder *b = signed_builder("k");
  ks_engine *e = make_engine(b, store);
  jar jars[3] = {{""}, {""}, {""}};
  for (int i = 0; i < 3; i++) {
    ks_session *s = load(e, &jars[i], "/");
    CHECK_OK(ks_session_set_field(s, "i", "1", 1));
    commit_and_free(s, &jars[i], 2);
  }
  int loaded = 0;
  for (int i = 0; i < 3; i++) {
    ks_session *s = load(e, &jars[i], "/");
    loaded += ks_session_load_report(s) == KS_LOAD_REPORT_LOADED;
    ks_session_free(s);
  }
  CHECK(loaded == 2);
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
}

/* Operator calls on the memory store: length, ids in batches (every id exactly once), clear,
 * and their argument checks. */
static int compare_sids(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

static void test_operator_calls(void) {
  const int n = getenv("KS_TEST_SCALE_DOWN") ? 300 : 3000;
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = signed_builder("k");
  ks_engine *e = make_engine(b, store);
  uint64_t count = 99;
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == 0);
  char(*sids)[33] = calloc((size_t)n, 33);
  char *seen = calloc((size_t)n, 1);
  CHECK(sids != NULL && seen != NULL);
  for (int i = 0; i < n; i++) {
    jar j = {""};
    ks_session *s = load(e, &j, "/");
    CHECK_OK(ks_session_set_field(s, "i", "1", 1));
    const char *id;
    size_t len;
    CHECK_OK(ks_session_id(s, &id, &len));
    CHECK(len == 32);
    memcpy(sids[i], id, len + 1);
    commit_and_free(s, &j, 2);
  }
  qsort(sids, (size_t)n, 33, compare_sids);
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == (uint64_t)n);

  /* Every id once, in batches of about 7. */
  ks_ids_cursor *cursor = NULL;
  CHECK_OK(ks_store_ids(store, 7, &cursor));
  size_t got = 0, batch = 0, batches = 0;
  for (;;) {
    CHECK_OK(ks_ids_cursor_next(cursor, &batch));
    if (batch == 0) break;
    CHECK(batch <= 8);
    batches++;
    for (size_t i = 0; i < batch; i++) {
      const char *id = NULL;
      size_t len = 0;
      CHECK_OK(ks_ids_cursor_get(cursor, i, &id, &len));
      CHECK(len == strlen(id));
      char(*hit)[33] = bsearch(id, sids, (size_t)n, 33, compare_sids);
      CHECK(hit != NULL);
      CHECK(!seen[hit - sids]);
      seen[hit - sids] = 1;
      got++;
    }
    const char *id = (const char *)&cursor;
    size_t len = 7;
    CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_ids_cursor_get(cursor, batch, &id, &len));
    CHECK(id == (const char *)&cursor && len == 7);
  }
  CHECK(got == (size_t)n && batches >= (size_t)n / 8);
  CHECK_OK(ks_ids_cursor_next(cursor, &batch));
  CHECK(batch == 0);
  ks_ids_cursor_free(cursor);
  ks_ids_cursor_free(NULL);

  /* NULL arguments; out-params untouched. */
  count = 42;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_length(NULL, &count));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_length(store, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_clear(NULL, &count));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_clear(store, NULL));
  CHECK(count == 42);
  cursor = (ks_ids_cursor *)&count;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_ids(NULL, 10, &cursor));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_ids(store, 10, NULL));
  CHECK(cursor == (ks_ids_cursor *)&count);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_ids_cursor_next(NULL, &batch));
  CHECK_OK(ks_store_ids(store, 0, &cursor));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_ids_cursor_next(cursor, NULL));
  const char *id;
  size_t len;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_ids_cursor_get(NULL, 0, &id, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_ids_cursor_get(cursor, 0, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_ids_cursor_get(cursor, 0, &id, NULL));
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_ids_cursor_get(cursor, 0, &id, &len)); /* nothing fetched yet */
  CHECK_OK(ks_ids_cursor_next(cursor, &batch));
  CHECK(batch == (size_t)(n < 1000 ? n : 1000)); /* batch size 0 means 1000 */

  /* clear: everything goes; the walk's cursor keeps the store alive after ks_store_free. */
  uint64_t removed = 0;
  CHECK_OK(ks_store_clear(store, &removed));
  CHECK(removed == (uint64_t)n);
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == 0);
  jar j = {""};
  snprintf(j.header, sizeof j.header, "koa.sid=%s", sids[0]);
  ks_session *s = load(e, &j, "/");
  CHECK(ks_session_load_report(s) != KS_LOAD_REPORT_LOADED);
  ks_session_free(s);
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
  CHECK_OK(ks_ids_cursor_next(cursor, &batch));
  CHECK(batch == 0);
  ks_ids_cursor_free(cursor);
  free(sids);
  free(seen);
  printf("operator calls (%d sessions): ok\n", n);
}

/* ks_last_error_message: per thread, cleared by a success, the code's text when there is no
 * more detail, buffer rules as for the other copy-out calls. */
static void *other_thread_errors(void *arg) {
  char *buf = arg;
  last_error(buf, 256); /* a new thread starts with no text */
  CHECK(buf[0] == '\0');
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_same_site(b, 99));
  CHECK_STR(last_error(buf, 256), "option \"cookieOptions.sameSite\": 99 is not a ks_same_site value");
  ks_config_builder_free(b);
  return NULL;
}

/* The detail of a refused cookie name: core's message, naming the option. */
static const char NAME_ERROR[] =
    "option \"key\": cookie name \"bad name\" is invalid: a space is not allowed (printable ASCII without ';', '=' or space)";

static void test_last_error_message(void) {
  char buf[256];
  size_t len = 99;
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_set_path(b, "/"));
  CHECK(strcmp(last_error(buf, sizeof buf), "") == 0);

  CHECK_RC(KS_RESULT_INVALID_COOKIE_NAME, ks_config_builder_set_cookie_name(b, "bad name"));
  CHECK_STR(last_error(buf, sizeof buf), NAME_ERROR);
  /* Asking does not change it; the size can be asked for first; the NUL needs its byte. */
  size_t need = 0;
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_last_error_message(NULL, 0, &need));
  CHECK(need == strlen(NAME_ERROR));
  char small[8] = "kept";
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_last_error_message(small, sizeof small, &len));
  CHECK(len == need);
  CHECK_STR(small, "kept");
  char *exact = malloc(need + 1);
  CHECK(exact != NULL);
  CHECK_OK(ks_last_error_message(exact, need + 1, &len));
  CHECK(len == need);
  CHECK_STR(exact, NAME_ERROR);
  free(exact);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_last_error_message(buf, sizeof buf, NULL));
  CHECK_STR(last_error(buf, sizeof buf), NAME_ERROR);

  /* The next failure replaces it; the next success clears it. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_path(NULL, "/"));
  CHECK_STR(last_error(buf, sizeof buf), ks_result_message(KS_RESULT_NULL_PARAMETER));
  CHECK_OK(ks_config_builder_set_path(b, "/x"));
  CHECK_STR(last_error(buf, sizeof buf), "");

  /* Per thread: what another thread does leaves this thread's text alone. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_path(NULL, "/"));
  char other[256];
  pthread_t t;
  CHECK(pthread_create(&t, NULL, other_thread_errors, other) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_STR(last_error(buf, sizeof buf), ks_result_message(KS_RESULT_NULL_PARAMETER));
  ks_config_builder_free(b);
  printf("last error message: ok\n");
}

int main(void) {
  test_last_error_message();
  test_messages_and_version();
  test_config_builder_arguments();
  test_request_arguments();
  test_visits_and_data();
  test_regenerate_save_modes_and_tampering();
  test_key_rotation();
  test_cookie_attributes_and_rules();
  test_memory_store_limit();
  test_operator_calls();

  /* The optional shutdown: runtime threads gone, later loads and commits refused. */
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = ks_config_builder_new();
  ks_engine *e = make_engine(b, store);
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, NULL, 0, "/", &s));
  CHECK_OK(ks_runtime_shutdown());
  CHECK_OK(ks_runtime_shutdown());
  ks_set_cookies *c = NULL;
  CHECK_RC(KS_RESULT_RUNTIME_UNAVAILABLE, ks_session_commit(s, true, &c));
  ks_session *s2 = NULL;
  CHECK_RC(KS_RESULT_RUNTIME_UNAVAILABLE, ks_session_load(e, NULL, 0, "/", &s2));
  CHECK(s2 == NULL);
  ks_session_free(s);
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
  puts("test_api: ok");
  return 0;
}
