/* The Redis stores through the C API, against real redis-servers started by
 * tests/c/with_redis.sh (a single server and a 3-master cluster on free loopback ports):
 * the life of a session (new, counter, regenerate, destroy), the records as koa-redis keeps
 * them (checked with redis-cli), a cluster, bad arguments, records that are not sessions, a
 * server answering errors, and a frozen / stopped server giving store errors, not hangs. */
#include "redis_rig.h"
#include "test_store.h"

#include <stdarg.h>

static const char BAD_UTF8[] = {'r', 'e', 'd', 'i', 's', ':', '/', '/', (char)0xff, 0};
static const long MAX_AGE_MS = 60000;

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "%s is not set: run this test through tests/c/with_redis.sh\n", name);
    exit(1);
  }
  return v;
}

/* Runs redis-cli against the test server on `port` (-c follows cluster redirects) and
 * returns its output without the trailing newline (static buffer, valid until the next call). */
static const char *cli(const char *port, const char *fmt, ...) {
  static char out[8192];
  char args[1024], cmd[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "redis-cli -c -h 127.0.0.1 -p %s %s 2>&1", port, args);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  size_t n = fread(out, 1, sizeof out - 1, p);
  int status = pclose(p);
  out[n] = '\0';
  while (n > 0 && out[n - 1] == '\n') out[--n] = '\0';
  if (status != 0) {
    fprintf(stderr, "%s failed (%d): %s\n", cmd, status, out);
    exit(1);
  }
  return out;
}

static long cli_long(const char *port, const char *fmt, const char *arg) {
  return strtol(cli(port, fmt, arg), NULL, 10);
}

static void harness(const char *verb) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "bash %s %s %s", env("KS_TEST_HARNESS"), verb, env("KS_TEST_REDIS_DIR"));
  CHECK(system(cmd) == 0);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static ks_engine *engine_over(ks_store *store) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"redis-test-key", 14));
  CHECK_OK(ks_config_builder_set_max_age_ms(b, (int64_t)MAX_AGE_MS));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

static void commit(ks_session *s, jar *j, size_t expected_cookies) {
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, true, &c));
  CHECK(ks_set_cookies_count(c) == expected_cookies);
  jar_apply(j, c);
  ks_set_cookies_free(c);
  ks_session_free(s);
}

static void sid_of(const ks_session *s, char *out, size_t cap) {
  const char *id;
  size_t len;
  CHECK_OK(ks_session_id(s, &id, &len));
  CHECK(len == 32 && len < cap);
  memcpy(out, id, len + 1);
}

static long number_field(const ks_session *s, const char *key) {
  char buf[64];
  size_t len;
  ks_result rc = ks_session_get_field(s, key, buf, sizeof buf, &len);
  if (rc == KS_RESULT_NOT_FOUND) return 0;
  CHECK_OK(rc);
  return strtol(buf, NULL, 10);
}

/* One counter visit: load with the jar's cookies, add 1 to views, commit. Returns the count
 * and writes the session id to `sid`. */
static long visit(const ks_engine *e, jar *j, char sid[33]) {
  ks_session *s = jar_load(e, j);
  long views = number_field(s, "views") + 1;
  char value[32];
  int n = snprintf(value, sizeof value, "%ld", views);
  CHECK_OK(ks_session_set_field(s, "views", value, (size_t)n));
  sid_of(s, sid, 33);
  commit(s, j, 2); /* signed: the cookie pair goes out on every change */
  return views;
}

static void test_bad_arguments(void) {
  ks_store *st = (ks_store *)&st; /* a sentinel: out-params are written only on success */
  ks_store *const sentinel = st;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_redis_store_new(NULL, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_redis_store_new("redis://127.0.0.1:1", NULL, 0, 0, NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_redis_store_new(BAD_UTF8, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_redis_store_new("redis://127.0.0.1:1", BAD_UTF8 + 8, 0, 0, &st));
  const char *bad_urls[] = {"", "127.0.0.1:6380", "http://127.0.0.1:1", "redis://", "redis://127.0.0.1:notaport",
                            "redis://[::1", "koa:sess:"};
  for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++)
    CHECK_RC(KS_RESULT_INVALID_URL, ks_redis_store_new(bad_urls[i], NULL, 0, 0, &st));
  CHECK(st == sentinel);
  CHECK(strstr(ks_result_message(KS_RESULT_INVALID_URL), "redis://") != NULL);
  /* The last-error text says what exactly, and never shows a password. */
  char why[512];
  CHECK_RC(KS_RESULT_INVALID_URL, ks_redis_store_new("redis://user:hunter2@127.0.0.1:notaport", NULL, 0, 0, &st));
  CHECK(strstr(last_error(why, sizeof why), "invalid Redis URL") != NULL);
  CHECK(strstr(why, "hunter2") == NULL);

  const char *nodes[] = {"redis://127.0.0.1:1", NULL};
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_redis_cluster_store_new(nodes, 0, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_redis_cluster_store_new(NULL, 0, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_redis_cluster_store_new(NULL, 1, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_redis_cluster_store_new(nodes, 2, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_redis_cluster_store_new(nodes, 1, NULL, 0, 0, NULL));
  const char *bad_nodes[] = {"redis://127.0.0.1:1", BAD_UTF8};
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_redis_cluster_store_new(bad_nodes, 2, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_redis_cluster_store_new(nodes, 1, BAD_UTF8, 0, 0, &st));
  const char *unix_node[] = {"unix:///tmp/redis.sock"}, *garbage_node[] = {"nope"};
  CHECK_RC(KS_RESULT_INVALID_URL, ks_redis_cluster_store_new(unix_node, 1, NULL, 0, 0, &st));
  CHECK_RC(KS_RESULT_INVALID_URL, ks_redis_cluster_store_new(garbage_node, 1, NULL, 0, 0, &st));
  CHECK(st == sentinel);

  ks_connection_state state = 99;
  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_connection_state(NULL, &state));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_connection_state(memory, NULL));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_connection_state(memory, &state));
  CHECK(state == 99);
  ks_store_free(memory);

  /* Valid URLs need no server at construction: a unix socket that does not exist is fine
   * until it is used. */
  CHECK_OK(ks_redis_store_new("unix:///nonexistent/redis.sock", "", 100, 100, &st));
  CHECK(st != sentinel && st != NULL);
  ks_store_free(st);
  ks_store_free(NULL);
}

/* The life of a session on one server, with every record checked through redis-cli. */
static void test_session_life(const char *url, const char *port) {
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, NULL, 0, 0, &store));
  ks_engine *e = engine_over(store);
  jar j = {""};
  char sid[33], key[64];

  /* New visitor: one record, the JSON the session held, with a TTL from maxAge. */
  ks_session *s = jar_load(e, &j);
  CHECK(ks_session_is_new(s) && ks_session_load_report(s) == KS_LOAD_REPORT_NO_COOKIE);
  CHECK_OK(ks_session_set_field(s, "views", "1", 1));
  char json[512];
  size_t len;
  CHECK_OK(ks_session_json_copy(s, json, sizeof json, &len));
  sid_of(s, sid, sizeof sid);
  commit(s, &j, 2);
  snprintf(key, sizeof key, "koa:sess:%s", sid);
  CHECK_STR(cli(port, "GET %s", key), json);
  CHECK(strstr(json, "\"cookie\":{") != NULL && strstr(json, "\"maxAge\":60000") != NULL);
  CHECK_STR(cli(port, "TYPE %s", key), "string");
  long pttl = cli_long(port, "PTTL %s", key);
  CHECK(pttl > 0 && pttl <= MAX_AGE_MS);

  /* Counter: the cookie loads the record, each change is written. */
  char again[33];
  CHECK(visit(e, &j, again) == 2 && strcmp(again, sid) == 0);
  CHECK(visit(e, &j, again) == 3 && strcmp(again, sid) == 0);
  CHECK(strstr(cli(port, "GET %s", key), "\"views\":3") != NULL);
  s = jar_load(e, &j);
  CHECK(!ks_session_is_new(s) && ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  commit(s, &j, 0); /* unchanged: nothing written, no cookie */

  /* A longer per-session lifetime ("remember me") in the cookie field sets the TTL. */
  s = jar_load(e, &j);
  const char *remember = "{\"cookie\":{\"httpOnly\":true,\"maxAge\":7200000,\"overwrite\":true,\"path\":\"/\","
                         "\"secure\":false,\"signed\":true},\"views\":3}";
  CHECK_OK(ks_session_set_json(s, remember, strlen(remember)));
  commit(s, &j, 2);
  pttl = cli_long(port, "PTTL %s", key);
  CHECK(pttl > MAX_AGE_MS && pttl <= 7200000);

  /* Login: regenerate gives a new id; the old record is gone, the new one holds the user. */
  s = jar_load(e, &j);
  CHECK_OK(ks_session_regenerate(s));
  CHECK_OK(ks_session_set_field(s, "user", "\"alice\"", 7));
  char new_sid[33], new_key[64];
  sid_of(s, new_sid, sizeof new_sid);
  CHECK(strcmp(new_sid, sid) != 0);
  commit(s, &j, 2);
  snprintf(new_key, sizeof new_key, "koa:sess:%s", new_sid);
  CHECK(cli_long(port, "EXISTS %s", key) == 0);
  CHECK(strstr(cli(port, "GET %s", new_key), "\"user\":\"alice\"") != NULL);
  CHECK(cli_long(port, "PTTL %s", new_key) > 0);

  /* Logout: the record is deleted and both cookies cleared; the old cookie finds nothing. */
  jar before = j;
  s = jar_load(e, &j);
  CHECK_OK(ks_session_mark_destroyed(s));
  commit(s, &j, 2);
  CHECK(j.header[0] == '\0');
  CHECK(cli_long(port, "EXISTS %s", new_key) == 0);
  s = jar_load(e, &before);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_MISSING && ks_session_is_new(s));
  sid_of(s, again, sizeof again);
  CHECK(strcmp(again, new_sid) != 0);
  ks_session_free(s);

  /* The connection state follows real outcomes. */
  ks_connection_state state = 99;
  CHECK_OK(ks_store_connection_state(store, &state));
  CHECK(state == KS_CONNECTION_STATE_CONNECTED);

  /* Another prefix keeps its own keys. */
  ks_store *other = NULL;
  CHECK_OK(ks_redis_store_new(url, "app2:", 500, 500, &other));
  ks_engine *e2 = engine_over(other);
  jar j2 = {""};
  CHECK(visit(e2, &j2, sid) == 1);
  CHECK(strstr(cli(port, "GET app2:%s", sid), "\"views\":1") != NULL);
  CHECK(cli_long(port, "EXISTS koa:sess:%s", sid) == 0);
  /* A cookie of the app2: store names no record under koa:sess:. */
  s = jar_load(e, &j2);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_MISSING);
  ks_session_free(s);

  ks_engine_free(e2);
  ks_store_free(other);
  ks_engine_free(e);
  ks_store_free(store);
  printf("session life on %s: ok\n", url);
}

/* Non-blocking calls on a Redis store call back once, from a runtime thread. */
typedef struct {
  latch done;
  ks_result result;
  ks_session *session;
  ks_set_cookies *cookies;
  char error[512]; /* the last-error text on the callback's thread */
} async_call;

static void on_load(void *userdata, ks_result result, ks_session *session) {
  async_call *c = userdata;
  c->result = result;
  c->session = session;
  last_error(c->error, sizeof c->error);
  latch_add(&c->done);
}

static void on_commit(void *userdata, ks_result result, ks_set_cookies *cookies) {
  async_call *c = userdata;
  c->result = result;
  c->cookies = cookies;
  last_error(c->error, sizeof c->error);
  latch_add(&c->done);
}

/* Records that are not sessions, and a server answering an error. */
static void test_bad_records(const char *url, const char *port) {
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, NULL, 0, 0, &store));
  ks_engine *e = engine_over(store);
  const char *garbage[] = {"'not json{'", "'[1,2,3]'", "'\"a string\"'", "42", "''"};
  for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
    jar j = {""};
    char sid[33], fresh[33];
    visit(e, &j, sid);
    CHECK_STR(cli(port, "SET koa:sess:%s %s PX 60000", sid, garbage[i]), "OK");
    ks_session *s = jar_load(e, &j);
    CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_CORRUPT && ks_session_is_new(s));
    sid_of(s, fresh, sizeof fresh);
    CHECK(strcmp(fresh, sid) != 0); /* never adopts the id */
    CHECK(number_field(s, "views") == 0);
    ks_session_free(s);
  }

  /* WRONGTYPE: the key holds a list. The load fails with a store error and changes nothing. */
  jar j = {""};
  char sid[33];
  visit(e, &j, sid);
  cli(port, "DEL koa:sess:%s", sid);
  CHECK_STR(cli(port, "RPUSH koa:sess:%s x", sid), "1");
  ks_session *s = (ks_session *)&s;
  ks_session *const sentinel = s;
  CHECK_RC(KS_RESULT_STORE_ERROR, ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &s));
  CHECK(s == sentinel);
  /* The server's own words are in the last-error text. */
  char why[512];
  CHECK(strstr(last_error(why, sizeof why), "WRONGTYPE") != NULL);
  /* The same from a non-blocking load: its callback finds the text on its thread. */
  async_call c = {.result = KS_RESULT_INTERNAL};
  latch_init(&c.done);
  CHECK_OK(ks_session_load_async(e, (const uint8_t *)j.header, strlen(j.header), "/", on_load, &c));
  latch_wait(&c.done, 1);
  CHECK_RC(KS_RESULT_STORE_ERROR, c.result);
  CHECK(c.session == NULL);
  CHECK(strstr(c.error, "WRONGTYPE") != NULL);
  latch_destroy(&c.done);
  CHECK_STR(cli(port, "TYPE koa:sess:%s", sid), "list");
  /* The server answered, so the store counts as connected. */
  ks_connection_state state = 99;
  CHECK_OK(ks_store_connection_state(store, &state));
  CHECK(state == KS_CONNECTION_STATE_CONNECTED);
  cli(port, "DEL koa:sess:%s", sid);

  ks_engine_free(e);
  ks_store_free(store);
  printf("bad records: ok\n");
}

/* A Redis Cluster of 3 masters: sessions spread over the slots, each readable by key. */
static void test_cluster(const char *nodes_csv, const char *port) {
  cluster_nodes c;
  split_nodes(&c, nodes_csv);
  const char *const *nodes = c.nodes;
  const size_t n = c.n;
  CHECK(n == 3);
  ks_store *store = NULL;
  CHECK_OK(ks_redis_cluster_store_new(nodes, n, NULL, 0, 0, &store));
  ks_engine *e = engine_over(store);

  enum { USERS = 24 };
  jar jars[USERS];
  char sids[USERS][33];
  for (int u = 0; u < USERS; u++) {
    jars[u].header[0] = '\0';
    for (long v = 1; v <= 3; v++) CHECK(visit(e, &jars[u], sids[u]) == v);
  }
  for (int u = 0; u < USERS; u++) {
    CHECK(strstr(cli(port, "GET koa:sess:%s", sids[u]), "\"views\":3") != NULL);
    long pttl = cli_long(port, "PTTL koa:sess:%s", sids[u]);
    CHECK(pttl > 0 && pttl <= MAX_AGE_MS);
  }
  /* The keys really live on more than one master. */
  int masters_with_keys = 0;
  char port_copy[256];
  snprintf(port_copy, sizeof port_copy, "%s", env("KS_TEST_CLUSTER_PORTS"));
  char *save = NULL;
  for (char *p = strtok_r(port_copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "redis-cli -h 127.0.0.1 -p %s DBSIZE", p);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    long keys = 0;
    CHECK(fscanf(f, "%ld", &keys) == 1);
    pclose(f);
    masters_with_keys += keys > 0;
  }
  CHECK(masters_with_keys >= 2);

  /* Regenerate and destroy across slots. */
  ks_session *s = jar_load(e, &jars[0]);
  CHECK_OK(ks_session_regenerate(s));
  CHECK_OK(ks_session_set_field(s, "user", "\"bob\"", 5));
  char new_sid[33];
  sid_of(s, new_sid, sizeof new_sid);
  commit(s, &jars[0], 2);
  CHECK(cli_long(port, "EXISTS koa:sess:%s", sids[0]) == 0);
  CHECK(strstr(cli(port, "GET koa:sess:%s", new_sid), "\"user\":\"bob\"") != NULL);
  s = jar_load(e, &jars[0]);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_OK(ks_session_mark_destroyed(s));
  commit(s, &jars[0], 2);
  CHECK(cli_long(port, "EXISTS koa:sess:%s", new_sid) == 0);

  /* One node is enough to find the cluster. */
  ks_store *one = NULL;
  CHECK_OK(ks_redis_cluster_store_new(nodes + 2, 1, NULL, 0, 0, &one));
  ks_engine *e1 = engine_over(one);
  s = jar_load(e1, &jars[5]);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED && number_field(s, "views") == 3);
  ks_session_free(s);
  ks_connection_state state = 99;
  CHECK_OK(ks_store_connection_state(one, &state));
  CHECK(state == KS_CONNECTION_STATE_CONNECTED);

  ks_engine_free(e1);
  ks_store_free(one);
  ks_engine_free(e);
  ks_store_free(store);
  printf("cluster (%zu masters): ok\n", n);
}

static void test_async(const char *url, const char *port) {
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, NULL, 0, 0, &store));
  ks_engine *e = engine_over(store);
  async_call c = {.result = KS_RESULT_INTERNAL};
  latch_init(&c.done);
  CHECK_OK(ks_session_load_async(e, NULL, 0, "/", on_load, &c));
  latch_wait(&c.done, 1);
  CHECK_OK(c.result);
  CHECK_OK(ks_session_set_field(c.session, "async", "true", 4));
  char sid[33];
  sid_of(c.session, sid, sizeof sid);
  ks_session *s = c.session;
  CHECK_OK(ks_session_commit_async(s, true, on_commit, &c));
  latch_wait(&c.done, 2);
  CHECK_OK(c.result);
  CHECK_STR(c.error, "");
  CHECK(ks_set_cookies_count(c.cookies) == 2);
  ks_set_cookies_free(c.cookies);
  ks_session_free(s);
  CHECK(strstr(cli(port, "GET koa:sess:%s", sid), "\"async\":true") != NULL);
  latch_destroy(&c.done);
  ks_engine_free(e);
  ks_store_free(store);
  printf("async on Redis: ok\n");
}

/* Calls ks_session_load and returns its result, printing how long it took. No timing is
 * asserted beyond "it came back" (a hang would be caught by the generous bound). */
static ks_result timed_load(const ks_engine *e, const jar *j, const char *what) {
  ks_session *s = NULL;
  double t0 = now_s();
  ks_result rc = ks_session_load(e, (const uint8_t *)j->header, strlen(j->header), "/", &s);
  double took = now_s() - t0;
  char why[512];
  last_error(why, sizeof why);
  printf("  %s: %s after %.0f ms (%s)\n", what, ks_result_message(rc), took * 1000, why);
  /* A store failure says more than its code: the store's own message. */
  if (rc != KS_RESULT_OK) CHECK(strcmp(why, ks_result_message(rc)) != 0 && strstr(why, "redis") != NULL);
  CHECK(took < 30.0); /* not a hang */
  if (rc == KS_RESULT_OK) ks_session_free(s);
  else CHECK(s == NULL);
  return rc;
}

/* Loads until the store answers again (it reconnects by itself). */
static void wait_until_back(const ks_engine *e, const jar *j) {
  for (int i = 0; i < 300; i++) {
    ks_session *s = NULL;
    if (ks_session_load(e, (const uint8_t *)j->header, strlen(j->header), "/", &s) == KS_RESULT_OK) {
      CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
      ks_session_free(s);
      return;
    }
    sleep_ms(100);
  }
  fprintf(stderr, "the store never came back\n");
  exit(1);
}

/* A frozen server (SIGSTOP) gives STORE_TIMEOUT, a stopped one STORE_UNAVAILABLE, each
 * within the timeouts; a commit that cannot write sends no cookie; the store recovers on its
 * own. Runs last: it stops the single server. */
static void test_outages(const char *url) {
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, NULL, 300, 300, &store));
  ks_engine *e = engine_over(store);
  jar j = {""};
  char sid[33];
  visit(e, &j, sid);

  /* Nothing ever listened here (a signed cookie makes the load read the store; a request
   * without one needs no store until its commit). First, so that the reconnect attempts its
   * failures start are over long before the runtime shuts down: the redis crate's reconnect
   * future holds its connection manager, and a runtime stopped mid-attempt leaks that cycle. */
  ks_store *nowhere = NULL;
  CHECK_OK(ks_redis_store_new("redis://127.0.0.1:1", NULL, 300, 300, &nowhere));
  ks_engine *e2 = engine_over(nowhere);
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, timed_load(e2, &j, "no server on the port"));
  jar empty = {""};
  ks_session *s = jar_load(e2, &empty);
  CHECK_OK(ks_session_set_field(s, "views", "1", 1));
  ks_set_cookies *cookies = (ks_set_cookies *)&cookies, *const sentinel = cookies;
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, ks_session_commit(s, true, &cookies));
  CHECK(cookies == sentinel);
  ks_session_free(s);
  ks_engine_free(e2);
  ks_store_free(nowhere);

  harness("pause");
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, timed_load(e, &j, "frozen server"));
  ks_connection_state state = 99;
  CHECK_OK(ks_store_connection_state(store, &state));
  CHECK(state == KS_CONNECTION_STATE_DISCONNECTED);
  harness("resume");
  wait_until_back(e, &j);
  CHECK_OK(ks_store_connection_state(store, &state));
  CHECK(state == KS_CONNECTION_STATE_CONNECTED);

  /* Loaded before the crash, committed after it: the write fails and no cookie is given. */
  s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "views", "100", 3));
  harness("kill");
  cookies = sentinel;
  double t0 = now_s();
  ks_result rc = ks_session_commit(s, true, &cookies);
  printf("  commit to a stopped server: %s after %.0f ms\n", ks_result_message(rc), (now_s() - t0) * 1000);
  CHECK(rc == KS_RESULT_STORE_UNAVAILABLE);
  CHECK(cookies == sentinel);
  ks_session_free(s);
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, timed_load(e, &j, "stopped server"));
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, timed_load(e, &j, "stopped server, again"));
  CHECK_OK(ks_store_connection_state(store, &state));
  CHECK(state == KS_CONNECTION_STATE_DISCONNECTED);

  /* Back on the same port (no persistence: the record is gone, a fresh session starts). */
  harness("restart");
  for (int i = 0; i < 300; i++) {
    ks_session *t = NULL;
    if (ks_session_load(e, (const uint8_t *)j.header, strlen(j.header), "/", &t) == KS_RESULT_OK) {
      CHECK(ks_session_load_report(t) == KS_LOAD_REPORT_MISSING);
      ks_session_free(t);
      break;
    }
    CHECK(i < 299);
    sleep_ms(100);
  }
  CHECK(visit(e, &j, sid) == 1);

  ks_engine_free(e);
  ks_store_free(store);
  printf("outages: ok\n");
}

/* Runs `sh -c script` (the script gets the redis-cli flags in $1), failing the test if it fails. */
static void shell(const char *script, const char *flags) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "bash -c '%s' _ '%s' >/dev/null", script, flags);
  CHECK(system(cmd) == 0);
}

/* The sum of `redis-cli --cluster call 127.0.0.1:PORT DBSIZE` over the cluster's nodes. */
static long cluster_dbsize(const char *port) {
  char cmd[256], line[256];
  snprintf(cmd, sizeof cmd, "redis-cli --cluster call 127.0.0.1:%s DBSIZE", port);
  FILE *f = popen(cmd, "r");
  CHECK(f != NULL);
  long total = 0;
  while (fgets(line, sizeof line, f)) {
    const char *colon = strrchr(line, ':'); /* "127.0.0.1:7000: 1667" */
    if (strncmp(line, "127.0.0.1:", 10) == 0 && colon && colon[1] == ' ') total += strtol(colon + 2, NULL, 10);
  }
  CHECK(pclose(f) == 0);
  return total;
}

/* The ids of `store` in batches of 7: each is sid-<i> with i < n, and every one comes. SCAN
 * may return a key twice (while Redis rehashes), so a repeat is allowed, as documented. */
static void walk_ids(const ks_store *store, int n) {
  char *seen = calloc((size_t)n, 1);
  CHECK(seen != NULL);
  ks_ids_cursor *cursor = NULL;
  CHECK_OK(ks_store_ids(store, 7, &cursor));
  size_t batch = 0;
  int got = 0;
  for (;;) {
    CHECK_OK(ks_ids_cursor_next(cursor, &batch));
    if (batch == 0) break;
    for (size_t i = 0; i < batch; i++) {
      const char *id;
      size_t len;
      CHECK_OK(ks_ids_cursor_get(cursor, i, &id, &len));
      CHECK(strncmp(id, "sid-", 4) == 0); /* the prefix is stripped */
      long k = strtol(id + 4, NULL, 10);
      CHECK(k >= 0 && k < n);
      if (!seen[k]) got++;
      seen[k] = 1;
    }
  }
  CHECK(got == n);
  ks_ids_cursor_free(cursor);
  free(seen);
}

/* Operator calls on one server and on the cluster: length (the cluster's checked against
 * DBSIZE on every node), ids in small batches, clear leaving other prefixes alone. */
static void test_operator_calls(const char *url, const char *port, const char *nodes_csv, const char *cluster_port) {
  const int n = getenv("KS_TEST_SCALE_DOWN") ? 500 : 5000;
  char flags[128], script[512];
  /* One server: a prefix with glob characters, and keys its unescaped pattern would match. */
  ks_store *store = NULL, *other = NULL;
  CHECK_OK(ks_redis_store_new(url, "ops*[1]:", 0, 0, &store));
  CHECK_OK(ks_redis_store_new(url, "other:", 0, 0, &other));
  uint64_t count = 99, removed = 0;
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == 0);
  snprintf(flags, sizeof flags, "-h 127.0.0.1 -p %s", port);
  snprintf(script, sizeof script,
           "for i in $(seq 0 %d); do echo \"SET ops*[1]:sid-$i {} PX 600000\"; done | redis-cli $1; "
           "for i in 1 2 3; do echo \"SET other:keep-$i {}\"; done | redis-cli $1; redis-cli $1 SET opsX1:look-alike x",
           n - 1);
  shell(script, flags);
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == (uint64_t)n);
  CHECK_OK(ks_store_length(other, &count));
  CHECK(count == 3);
  walk_ids(store, n);
  CHECK_OK(ks_store_clear(store, &removed));
  CHECK(removed == (uint64_t)n);
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == 0);
  CHECK(cli_long(port, "%s", "EXISTS other:keep-1 other:keep-2 other:keep-3 opsX1:look-alike") == 4);
  ks_store_free(store);
  ks_store_free(other);

  /* The cluster: every master, compared with DBSIZE summed over the nodes. The keyspace
   * holds test_cluster's koa:sess: sessions and this test's ops: ones. */
  cluster_nodes c;
  split_nodes(&c, nodes_csv);
  ks_store *sessions = NULL;
  CHECK_OK(ks_redis_cluster_store_new(c.nodes, c.n, NULL, 0, 0, &sessions));
  CHECK_OK(ks_redis_cluster_store_new(c.nodes, 1, "ops:", 0, 0, &store));
  long before = cluster_dbsize(cluster_port);
  CHECK_OK(ks_store_length(sessions, &count));
  CHECK(count == (uint64_t)before);
  snprintf(flags, sizeof flags, "-c -h 127.0.0.1 -p %s", cluster_port);
  snprintf(script, sizeof script, "for i in $(seq 0 %d); do echo \"SET ops:sid-$i {} PX 600000\"; done | redis-cli $1", n - 1);
  shell(script, flags);
  long total = cluster_dbsize(cluster_port);
  CHECK(total == before + n);
  CHECK_OK(ks_store_length(store, &count));
  CHECK(count == (uint64_t)n);
  walk_ids(store, n);
  CHECK_OK(ks_store_clear(store, &removed));
  CHECK(removed == (uint64_t)n);
  CHECK(cluster_dbsize(cluster_port) == before);
  CHECK_OK(ks_store_length(sessions, &count));
  CHECK(count == (uint64_t)before && before > 0);
  ks_store_free(store);
  ks_store_free(sessions);
  printf("operator calls (%d sessions, single and cluster, %ld other keys): ok\n", n, before);
}

int main(void) {
  const char *url = env("KS_TEST_REDIS_URL"), *port = env("KS_TEST_REDIS_PORT");
  test_bad_arguments();
  test_session_life(url, port);
  test_bad_records(url, port);
  test_cluster(env("KS_TEST_CLUSTER_NODES"), env("KS_TEST_CLUSTER_PORT"));
  test_operator_calls(url, port, env("KS_TEST_CLUSTER_NODES"), env("KS_TEST_CLUSTER_PORT"));
  test_async(url, port);
  test_outages(url);
  CHECK_OK(ks_runtime_shutdown());
  printf("test_redis: ok\n");
  return 0;
}
