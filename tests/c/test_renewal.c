/* Session id renewal through the C API: the renewInterval and renewGrace options
 * (ks_config_builder_set_renew_interval_ms, ks_config_builder_set_renew_grace_ms) on an engine
 * clock the test moves by hand (ks_config_builder_set_clock), on the memory store, a C store
 * (with compare-and-set and a user index) and, when run through tests/c/with_redis.sh, a Redis
 * server and a 3-master Redis Cluster: after the interval a request's commit sends the cookie
 * of a new id while the session (its data, its key, ks_session_id) stays; the replaced id loads
 * the same session for the grace, its commits sending the new id's cookie even when nothing
 * changed, and nothing after it; 20 requests in threads, made with the replaced cookie and each
 * writing its own field, half loaded before the renewing commit and half after, all keep their
 * field and all send the new id's cookie; a logout with either id during the grace ends both;
 * two renewals at once leave one session (after the grace exactly one new id works);
 * ks_store_destroy_user_sessions ends both ids. Also: the setters and their errors, the
 * default grace, a store without compare-and-set refused, and ks_cache_headers (the cache
 * headers of a response that sets the session cookie) with the C++ wrapper's twin in
 * test_hpp. */
#include "lifetime_rig.h"

#include <inttypes.h>

static const char *PREFIX = "renew:";
static const char SIGNING_KEY[] = "renew-key";
static const char USER_FIELD[] = "user";
static const int64_t INTERVAL = 1000, GRACE = 500;
static const char BAD_UTF8[] = {'a', (char)0xff, 'b', 0};

/* ---- A user index for the C store: test_store's records plus a table of (user, sid, since) */

#define UI_MAX 64

typedef struct {
  test_store ts; /* first: the vtable's ctx is this struct and the test_store at once */
  pthread_mutex_t mu;
  struct {
    char *user, *sid;
    int64_t since_ms;
  } entries[UI_MAX];
} users_store;

static uint32_t us_index_add(void *ctx, const char *user, size_t user_len, const char *sid, size_t sid_len, int64_t since_ms,
                             uint64_t *held_out) {
  users_store *us = ctx;
  CHECK(strlen(user) == user_len && strlen(sid) == sid_len && sid_len == 32);
  pthread_mutex_lock(&us->mu);
  int slot = -1, found = -1;
  uint64_t held = 0;
  for (int i = 0; i < UI_MAX; i++) {
    if (!us->entries[i].user) {
      if (slot < 0) slot = i;
    } else if (strcmp(us->entries[i].user, user) == 0) {
      held++;
      if (strcmp(us->entries[i].sid, sid) == 0) found = i;
    }
  }
  if (found < 0) {
    CHECK(slot >= 0);
    found = slot;
    us->entries[found].user = strdup(user);
    us->entries[found].sid = strdup(sid);
    held++;
  }
  us->entries[found].since_ms = since_ms;
  *held_out = held;
  pthread_mutex_unlock(&us->mu);
  return KS_STORE_STATUS_OK;
}

static uint32_t us_index_entries(void *ctx, const char *user, size_t user_len, ks_index_entries *out) {
  users_store *us = ctx;
  CHECK(strlen(user) == user_len);
  pthread_mutex_lock(&us->mu);
  int n = 0;
  for (int i = 0; i < UI_MAX; i++) {
    if (us->entries[i].user && strcmp(us->entries[i].user, user) == 0) {
      CHECK_OK(ks_index_entries_add(out, us->entries[i].sid, 32, us->entries[i].since_ms));
      n++;
    }
  }
  pthread_mutex_unlock(&us->mu);
  return n ? KS_STORE_STATUS_OK : KS_STORE_STATUS_NOT_FOUND;
}

static uint32_t us_index_remove(void *ctx, const char *user, size_t user_len, const char *const *sids, const size_t *sid_lens,
                                size_t count) {
  users_store *us = ctx;
  CHECK(strlen(user) == user_len);
  pthread_mutex_lock(&us->mu);
  for (size_t k = 0; k < count; k++) {
    CHECK(strlen(sids[k]) == sid_lens[k]);
    for (int i = 0; i < UI_MAX; i++) {
      if (us->entries[i].user && strcmp(us->entries[i].user, user) == 0 && strcmp(us->entries[i].sid, sids[k]) == 0) {
        free(us->entries[i].user);
        free(us->entries[i].sid);
        us->entries[i].user = us->entries[i].sid = NULL;
      }
    }
  }
  pthread_mutex_unlock(&us->mu);
  return KS_STORE_STATUS_OK;
}

static void us_init(users_store *us) {
  memset(us, 0, sizeof *us);
  ts_init(&us->ts, PREFIX);
  pthread_mutex_init(&us->mu, NULL);
}

static void us_deinit(users_store *us) {
  for (int i = 0; i < UI_MAX; i++) {
    free(us->entries[i].user);
    free(us->entries[i].sid);
  }
  pthread_mutex_destroy(&us->mu);
  ts_deinit(&us->ts);
}

/* An engine on the rig's store and clock. interval 0: no renewal, and no lifetimes at all (the
 * "raw" engine that shows records as stored: "_ks" and alias records included). */
static ks_engine *engine_with(rig *r, uint64_t interval_ms, uint64_t grace_ms, const char *user_field) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)SIGNING_KEY, strlen(SIGNING_KEY)));
  CHECK_OK(ks_config_builder_set_renew_interval_ms(b, interval_ms));
  CHECK_OK(ks_config_builder_set_renew_grace_ms(b, grace_ms));
  if (user_field) CHECK_OK(ks_config_builder_set_user_field(b, user_field));
  CHECK_OK(ks_config_builder_set_clock(b, fake_now, &r->clock));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, r->store, &e));
  ks_config_builder_free(b);
  return e;
}

/* Whether the store holds a record under `id` (the store's own view: ks_store_ids, or the C
 * store's table, which also gives the record as stored into `json` when it is not NULL). */
static bool holds(const rig *r, const char *id, char *json, size_t cap) {
  if (r->ts) {
    char key[64];
    snprintf(key, sizeof key, "%s%s", PREFIX, id);
    pthread_mutex_lock(&r->ts->mu);
    ts_record *rec = ts_find(r->ts, key);
    if (rec && json) snprintf(json, cap, "%s", rec->json);
    pthread_mutex_unlock(&r->ts->mu);
    return rec != NULL;
  }
  ks_ids_cursor *cursor = NULL;
  CHECK_OK(ks_store_ids(r->store, 0, &cursor));
  bool found = false;
  for (;;) {
    size_t n;
    CHECK_OK(ks_ids_cursor_next(cursor, &n));
    if (n == 0 || found) break;
    for (size_t i = 0; i < n && !found; i++) {
      const char *got;
      size_t len;
      CHECK_OK(ks_ids_cursor_get(cursor, i, &got, &len));
      found = len == strlen(id) && memcmp(got, id, len) == 0;
    }
  }
  ks_ids_cursor_free(cursor);
  return found;
}

/* The id the jar's session cookie carries ("" when it has none). */
static void jar_sid(const jar *j, char out[33]) {
  out[0] = '\0';
  for (const char *p = j->header; (p = strstr(p, "koa.sid=")) != NULL; p++) {
    if (p != j->header && p[-1] != ' ') continue;
    CHECK(strcspn(p + 8, ";") == 32);
    memcpy(out, p + 8, 32);
    out[32] = '\0';
    return;
  }
}

/* The id the Set-Cookie values give the session cookie: "" when they set none, "-" when they
 * clear it. The signature cookie always comes with it. */
static void sent_sid(const ks_set_cookies *cookies, char out[33]) {
  const char *v = set_cookie_for(cookies, "koa.sid");
  out[0] = '\0';
  if (!v) return;
  CHECK(set_cookie_for(cookies, "koa.sid.sig") != NULL);
  size_t len = strcspn(v + 8, ";");
  if (len == 0) {
    strcpy(out, "-");
    return;
  }
  CHECK(len == 32);
  memcpy(out, v + 8, 32);
  out[32] = '\0';
}

/* What the application sees never holds the engine's times. */
static void check_hidden(const ks_session *s) {
  const char *json;
  size_t len;
  CHECK_OK(ks_session_json(s, &json, &len));
  char copy[4096];
  CHECK(len < sizeof copy);
  memcpy(copy, json, len);
  copy[len] = '\0';
  CHECK(strstr(copy, "_ks") == NULL);
}

/* The JSON text of `field` in the session ("" when absent). */
static const char *field_of(const ks_session *s, const char *field, char *buf, size_t cap) {
  size_t len;
  ks_result rc = ks_session_get_field(s, field, buf, cap, &len);
  if (rc == KS_RESULT_NOT_FOUND) buf[0] = '\0';
  else CHECK_OK(rc);
  return buf;
}

/* A request: load the jar's session (expecting `report`; key_out, when given, receives
 * ks_session_id), optionally set `field` to the JSON `value`, commit, apply the cookies to the
 * jar. `sent` (when given) receives the id the Set-Cookie values carry (see sent_sid). Returns
 * how many Set-Cookie values came back. */
static size_t request(const ks_engine *e, jar *j, ks_load_report report, const char *field, const char *value, char sent[33],
                      char key_out[33]) {
  ks_session *s = jar_load(e, j);
  if (ks_session_load_report(s) != report) {
    fprintf(stderr, "load report %u, expected %u (cookie %s)\n", (unsigned)ks_session_load_report(s), (unsigned)report, j->header);
    exit(1);
  }
  check_hidden(s);
  if (key_out) sid_of(s, key_out);
  if (field) CHECK_OK(ks_session_set_field(s, field, value, strlen(value)));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  size_t n = ks_set_cookies_count(cookies);
  if (sent) sent_sid(cookies, sent);
  jar_apply(j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  return n;
}

/* The jar's session loads, as the session under `key`, with `field` == `value` (JSON text);
 * nothing is committed. */
static void check_loads(const ks_engine *e, const jar *j, const char *key, const char *field, const char *value) {
  ks_session *s = jar_load(e, j);
  char id[33], buf[256];
  if (ks_session_load_report(s) != KS_LOAD_REPORT_LOADED) {
    fprintf(stderr, "load report %u for %s, expected LOADED\n", (unsigned)ks_session_load_report(s), j->header);
    exit(1);
  }
  CHECK(!ks_session_is_new(s));
  sid_of(s, id);
  CHECK_STR(id, key);
  CHECK_STR(field_of(s, field, buf, sizeof buf), value);
  check_hidden(s);
  ks_session_free(s);
}

/* The jar's cookie loads nothing: a new session with another id. Committed: the stale
 * cookies are cleared. */
static void check_dead(const ks_engine *e, jar j, const char *key) {
  ks_session *s = jar_load(e, &j);
  char id[33], cookie[33];
  if (ks_session_load_report(s) != KS_LOAD_REPORT_MISSING) {
    fprintf(stderr, "load report %u for %s, expected MISSING\n", (unsigned)ks_session_load_report(s), j.header);
    exit(1);
  }
  CHECK(ks_session_is_new(s));
  sid_of(s, id);
  jar_sid(&j, cookie);
  CHECK(strcmp(id, key) != 0 && strcmp(id, cookie) != 0);
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  sent_sid(cookies, cookie);
  CHECK_STR(cookie, "-");
  ks_set_cookies_free(cookies);
  ks_session_free(s);
}

/* A new session holding `field` = `value`: its jar, and its key in `key`. */
static jar start_session(const ks_engine *e, const char *field, const char *value, char key[33]) {
  jar j = {""};
  char sent[33];
  CHECK(request(e, &j, KS_LOAD_REPORT_NO_COOKIE, field, value, sent, key) == 2);
  CHECK_STR(sent, key);
  return j;
}

/* A renewal: the interval passed, a read-only request's commit sends a new id's cookie. The
 * jar then holds it; returns the new id in `renewed`. */
static void renew(rig *r, const ks_engine *e, jar *j, const char *key, char renewed[33]) {
  char before[33], id[33];
  jar_sid(j, before);
  CHECK(request(e, j, KS_LOAD_REPORT_LOADED, NULL, NULL, renewed, id) == 2);
  CHECK_STR(id, key); /* ks_session_id: the record's key, not the cookie's id */
  CHECK(strlen(renewed) == 32 && strcmp(renewed, before) != 0 && strcmp(renewed, key) != 0);
  jar_sid(j, id);
  CHECK_STR(id, renewed);
  (void)r;
}

/* ---- Scenarios, each on any store */

/* renewInterval 1000, renewGrace 500: a read at 999 sends nothing; at 1000 a new id (the data,
 * the key and ks_session_id stay; an alias record names the key); the replaced id loads the
 * session until 1499, its commits sending the new id's cookie even without a change, and a
 * change made with it kept; at 1500 it loads nothing. Three more renewals: the aliases whose
 * grace is over are destroyed (the store holds the record, the current alias and at most one
 * in grace). */
static void renewal_basics(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, (uint64_t)GRACE, NULL), *raw = engine_with(r, 0, 0, NULL);
  const long before = records(r);
  char key[33], id[33], sent[33], json[4096], expect[256];
  jar j = start_session(e, "n", "1", key);
  CHECK(records(r) == before + 1);

  advance(&r->clock, INTERVAL - 1);
  CHECK(request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, id) == 0);
  CHECK_STR(id, key);

  advance(&r->clock, 1);
  const int64_t renewed_at = now_of(&r->clock);
  const jar old = j;
  char renewed[33];
  renew(r, e, &j, key, renewed);
  CHECK(records(r) == before + 2);
  /* As stored: an alias under the new id (on the C store, read as stored); the record names
   * its current id and the one in grace. */
  json[0] = '\0';
  CHECK(holds(r, renewed, json, sizeof json));
  if (r->ts) {
    snprintf(expect, sizeof expect, "{\"_ks\":{\"of\":\"%s\"}}", key);
    CHECK_STR(json, expect);
  }
  CHECK(raw_record(raw, &old, json, sizeof json) == KS_LOAD_REPORT_LOADED);
  snprintf(expect, sizeof expect, "\"sid\":\"%s\"", renewed);
  CHECK(strstr(json, expect) != NULL);
  snprintf(expect, sizeof expect, "\"old\":{\"%s\":%" PRId64 "}", key, renewed_at + GRACE);
  CHECK(strstr(json, expect) != NULL);

  /* The new id: the same session under the same key; a read sends nothing. */
  check_loads(e, &j, key, "n", "1");
  CHECK(request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, id) == 0);
  CHECK_STR(id, key);

  /* The replaced id within the grace: the same session; the new id's cookie even unchanged. */
  advance(&r->clock, GRACE - 1);
  jar tab = old;
  CHECK(request(e, &tab, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, id) == 2);
  CHECK_STR(id, key);
  CHECK_STR(sent, renewed);
  tab = old;
  CHECK(request(e, &tab, KS_LOAD_REPORT_LOADED, "m", "2", sent, NULL) == 2);
  CHECK_STR(sent, renewed);
  check_loads(e, &j, key, "m", "2");

  /* The grace is over: the replaced id loads nothing; the session lives on under the new one. */
  advance(&r->clock, 1);
  check_dead(e, old, key);
  check_loads(e, &j, key, "m", "2");

  /* Renewed again and again: an alias is destroyed at the first renewal after its grace. */
  const jar first = j;
  char first_id[33];
  snprintf(first_id, sizeof first_id, "%s", renewed);
  for (int i = 0; i < 3; i++) {
    advance(&r->clock, INTERVAL);
    renew(r, e, &j, key, renewed);
    check_loads(e, &j, key, "n", "1");
  }
  CHECK(!holds(r, first_id, NULL, 0));
  check_dead(e, first, key);
  CHECK(records(r) == before + 3); /* the record, the current alias, the one in grace */

  ks_engine_free(e);
  ks_engine_free(raw);
  printf("%s: renewal after the interval, the replaced id for the grace, aliases cleaned up: ok\n", r->name);
}

/* 20 requests in threads, all with the cookie a renewal replaced, each writing its own field:
 * 10 loaded before the renewal (and before the interval passed, so they renew nothing), 10
 * loaded after its commit, within the grace; all 20 commit at once, after the renewal. Every
 * field is kept, every commit sends the new id's cookie. */
enum { PARALLEL = 20 };

typedef struct {
  const ks_engine *e;
  jar j;
  pthread_barrier_t *loaded_early, *all_loaded;
  int i;
  char key[33], sent[33];
  size_t count;
} old_cookie_request;

static void barrier(pthread_barrier_t *b) {
  int rc = pthread_barrier_wait(b);
  CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void *old_cookie_write(void *arg) {
  old_cookie_request *q = arg;
  ks_session *s = jar_load(q->e, &q->j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  sid_of(s, q->key);
  if (q->loaded_early) barrier(q->loaded_early);
  barrier(q->all_loaded);
  char name[16], value[16];
  snprintf(name, sizeof name, "k%d", q->i);
  int n = snprintf(value, sizeof value, "%d", q->i);
  CHECK_OK(ks_session_set_field(s, name, value, (size_t)n));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  q->count = ks_set_cookies_count(cookies);
  sent_sid(cookies, q->sent);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  return NULL;
}

static void parallel_old_cookie(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, (uint64_t)GRACE, NULL);
  char key[33], renewed[33], buf[64];
  jar j = start_session(e, "n", "0", key);
  const jar old = j;
  pthread_t threads[PARALLEL];
  old_cookie_request qs[PARALLEL];
  pthread_barrier_t loaded_early, all_loaded;
  CHECK(pthread_barrier_init(&loaded_early, NULL, PARALLEL / 2 + 1) == 0);
  CHECK(pthread_barrier_init(&all_loaded, NULL, PARALLEL + 1) == 0);
  for (int i = 0; i < PARALLEL; i++) {
    qs[i] = (old_cookie_request){.e = e, .j = old, .all_loaded = &all_loaded, .i = i};
    if (i < PARALLEL / 2) qs[i].loaded_early = &loaded_early;
  }

  advance(&r->clock, INTERVAL - 1);
  for (int i = 0; i < PARALLEL / 2; i++) CHECK(pthread_create(&threads[i], NULL, old_cookie_write, &qs[i]) == 0);
  barrier(&loaded_early);
  advance(&r->clock, 1);
  renew(r, e, &j, key, renewed);
  advance(&r->clock, GRACE / 2);
  for (int i = PARALLEL / 2; i < PARALLEL; i++) CHECK(pthread_create(&threads[i], NULL, old_cookie_write, &qs[i]) == 0);
  barrier(&all_loaded);
  for (int i = 0; i < PARALLEL; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  pthread_barrier_destroy(&loaded_early);
  pthread_barrier_destroy(&all_loaded);

  int kept = 0, new_cookie = 0;
  ks_session *s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  for (int i = 0; i < PARALLEL; i++) {
    char name[16], value[16];
    snprintf(name, sizeof name, "k%d", i);
    snprintf(value, sizeof value, "%d", i);
    CHECK_STR(qs[i].key, key);
    kept += strcmp(field_of(s, name, buf, sizeof buf), value) == 0;
    new_cookie += qs[i].count == 2 && strcmp(qs[i].sent, renewed) == 0;
    if (qs[i].count != 2 || strcmp(qs[i].sent, renewed) != 0)
      fprintf(stderr, "%s: request %d (loaded %s the renewal) sent %zu cookies naming %s, not the new id %s\n", r->name, i,
              i < PARALLEL / 2 ? "before" : "after", qs[i].count, qs[i].sent[0] ? qs[i].sent : "nothing", renewed);
  }
  CHECK_STR(field_of(s, "n", buf, sizeof buf), "0");
  ks_session_free(s);
  printf("%s: %d requests with the replaced cookie (%d loaded before the renewal): %d of %d fields kept, %d of %d sent the new id\n",
         r->name, PARALLEL, PARALLEL / 2, kept, PARALLEL, new_cookie, PARALLEL);
  CHECK(kept == PARALLEL);
  CHECK(new_cookie == PARALLEL);
  advance(&r->clock, GRACE);
  check_dead(e, old, key);
  check_loads(e, &j, key, "k7", "7");
  ks_engine_free(e);
}

/* A logout during the grace, with the replaced id and then (another session) with the new
 * one: both ids load nothing after it. */
static void logout_during_grace(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, (uint64_t)GRACE, NULL);
  const long before = records(r);
  for (int with_old = 1; with_old >= 0; with_old--) {
    const long at_start = records(r);
    char key[33], renewed[33], sent[33];
    jar j = start_session(e, "n", "1", key);
    const jar old = j;
    advance(&r->clock, INTERVAL);
    renew(r, e, &j, key, renewed);
    advance(&r->clock, GRACE / 2);
    jar by = with_old ? old : j;
    ks_session *s = jar_load(e, &by);
    CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
    CHECK_OK(ks_session_mark_destroyed(s));
    ks_set_cookies *cookies = NULL;
    CHECK_OK(ks_session_commit(s, true, &cookies));
    sent_sid(cookies, sent);
    CHECK_STR(sent, "-");
    ks_set_cookies_free(cookies);
    ks_session_free(s);
    check_dead(e, old, key);
    check_dead(e, j, key);
    /* What a logout leaves is at most the new id's alias (until its TTL), which loads nothing. */
    const long left = records(r) - at_start;
    CHECK(left <= 1);
    printf("%s: logout with the %s id during the grace ends both ids: ok (%ld record(s) left)\n", r->name,
           with_old ? "replaced" : "new", left);
  }
  CHECK(records(r) <= before + 2);
  ks_engine_free(e);
}

/* Two requests renew at once (both loaded with the cookie once the interval passed, both
 * commit together, each with a change): one session, both changes kept; during the grace the
 * ids they sent load it, and a request with any id but the current one gets the current id's
 * cookie; after the grace exactly one of the new ids works, the current one. */
typedef struct {
  const ks_engine *e;
  jar j;
  pthread_barrier_t *loaded;
  const char *field;
  char sent[33];
} renewing_request;

static void *renew_with_change(void *arg) {
  renewing_request *q = arg;
  ks_session *s = jar_load(q->e, &q->j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  barrier(q->loaded);
  CHECK_OK(ks_session_set_field(s, q->field, "true", 4));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  CHECK(ks_set_cookies_count(cookies) == 2);
  sent_sid(cookies, q->sent);
  jar_apply(&q->j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  return NULL;
}

static void two_renewals_at_once(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, (uint64_t)GRACE, NULL), *raw = engine_with(r, 0, 0, NULL);
  char key[33], json[4096], sent[33], id[33];
  const jar old = start_session(e, "n", "1", key);
  advance(&r->clock, INTERVAL);
  pthread_barrier_t loaded;
  CHECK(pthread_barrier_init(&loaded, NULL, 2) == 0);
  renewing_request qs[2] = {{.e = e, .j = old, .loaded = &loaded, .field = "a"}, {.e = e, .j = old, .loaded = &loaded, .field = "b"}};
  pthread_t threads[2];
  for (int i = 0; i < 2; i++) CHECK(pthread_create(&threads[i], NULL, renew_with_change, &qs[i]) == 0);
  for (int i = 0; i < 2; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  pthread_barrier_destroy(&loaded);
  for (int i = 0; i < 2; i++) CHECK(strlen(qs[i].sent) == 32 && strcmp(qs[i].sent, key) != 0);

  /* The current id, as the record names it: one of those sent. */
  CHECK(raw_record(raw, &old, json, sizeof json) == KS_LOAD_REPORT_LOADED);
  const char *at = strstr(json, "\"sid\":\"");
  CHECK(at != NULL);
  char current[33];
  memcpy(current, at + 7, 32);
  current[32] = '\0';
  CHECK(strcmp(current, qs[0].sent) == 0 || strcmp(current, qs[1].sent) == 0);

  /* During the grace: every id loads the one session, with both changes; any id but the
   * current one gets the current id's cookie. */
  advance(&r->clock, GRACE - 1);
  for (int i = 0; i < 2; i++) {
    check_loads(e, &qs[i].j, key, "a", "true");
    check_loads(e, &qs[i].j, key, "b", "true");
    jar tab = qs[i].j;
    const bool is_current = strcmp(qs[i].sent, current) == 0;
    CHECK(request(e, &tab, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, id) == (is_current ? 0u : 2u));
    CHECK_STR(id, key);
    if (!is_current) CHECK_STR(sent, current);
  }
  jar tab = old;
  CHECK(request(e, &tab, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, NULL) == 2);
  CHECK_STR(sent, current);

  /* After the grace: exactly one new id works, the current one. */
  advance(&r->clock, 1);
  int working = 0;
  for (int i = 0; i < 2; i++) {
    if (i == 1 && strcmp(qs[0].sent, qs[1].sent) == 0) break;
    if (strcmp(qs[i].sent, current) == 0) {
      check_loads(e, &qs[i].j, key, "b", "true");
      working++;
    } else {
      check_dead(e, qs[i].j, key);
    }
  }
  CHECK(working == 1);
  check_dead(e, old, key);
  printf("%s: two renewals at once: one session, %s new id(s) sent, exactly one works after the grace: ok\n", r->name,
         strcmp(qs[0].sent, qs[1].sent) == 0 ? "the same" : "two");
  ks_engine_free(raw);
  ks_engine_free(e);
}

/* With a user field: a session of "ann" renewed; during the grace ks_store_user_sessions lists
 * it once (under its key), destroy_user_sessions except its key spares both ids, and without
 * the exception ends both. */
static void destroy_user_sessions_both_ids(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, (uint64_t)GRACE, USER_FIELD);
  char key[33], renewed[33];
  jar j = start_session(e, USER_FIELD, "\"ann\"", key);
  const jar old = j;
  advance(&r->clock, INTERVAL);
  renew(r, e, &j, key, renewed);
  advance(&r->clock, GRACE / 2);

  ks_user_sessions *list = NULL;
  CHECK_OK(ks_store_user_sessions(r->store, USER_FIELD, "ann", &list));
  CHECK(ks_user_sessions_count(list) == 1);
  const char *listed;
  size_t len;
  CHECK_OK(ks_user_sessions_id(list, 0, &listed, &len));
  CHECK(len == 32 && memcmp(listed, key, 32) == 0);
  ks_user_sessions_free(list);

  uint64_t count = 99;
  CHECK_OK(ks_store_destroy_user_sessions(r->store, "ann", key, &count));
  CHECK(count == 0);
  check_loads(e, &old, key, USER_FIELD, "\"ann\"");
  check_loads(e, &j, key, USER_FIELD, "\"ann\"");

  CHECK_OK(ks_store_destroy_user_sessions(r->store, "ann", NULL, &count));
  CHECK(count == 1);
  check_dead(e, old, key);
  check_dead(e, j, key);
  CHECK_OK(ks_store_user_sessions(r->store, USER_FIELD, "ann", &list));
  CHECK(ks_user_sessions_count(list) == 0);
  ks_user_sessions_free(list);
  ks_engine_free(e);
  printf("%s: destroy_user_sessions during the grace ends both ids (except the key spares both): ok\n", r->name);
}

/* ---- Settings */

static void setters(void) {
  char why[512];
  ks_config_builder *b = ks_config_builder_new();
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_renew_interval_ms(NULL, 1000));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_renew_grace_ms(NULL, 1000));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_renew_interval_ms(NULL, 0));

  check_ms_out_of_range(b, ks_config_builder_set_renew_interval_ms,
                        "option \"renewInterval\": must be a number of milliseconds from 1 to 315360000000 (ten years)");
  check_ms_out_of_range(b, ks_config_builder_set_renew_grace_ms, "option \"renewGrace\": must be a number of milliseconds");
  CHECK_OK(ks_config_builder_validate(b));
  check_ms_bounds_accepted(b, ks_config_builder_set_renew_interval_ms);
  check_ms_bounds_accepted(b, ks_config_builder_set_renew_grace_ms);
  CHECK_OK(ks_config_builder_set_renew_grace_ms(b, 0)); /* the default */
  CHECK_OK(ks_config_builder_validate(b));
  CHECK_STR(last_error(why, sizeof why), "");

  /* A store without compare-and-set is refused while renewal is on, naming the option; a
   * grace alone (renewal off) asks nothing of the store. */
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *plain = ts_register(&ts);
  check_refused_without_cas(b, plain, "option \"renewInterval\"");
  CHECK_OK(ks_config_builder_set_renew_interval_ms(b, 0));
  CHECK_OK(ks_config_builder_set_renew_grace_ms(b, 5000));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, plain, &e));
  ks_engine_free(e);
  ks_store_free(plain);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
  ks_config_builder_free(b);
  printf("setters and stores without compare-and-set: ok\n");
}

/* renewGrace 0 is the default grace, one minute: the replaced id works at 59999 ms after the
 * renewal and not at 60000. */
static void default_grace(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)INTERVAL, 0, NULL);
  char key[33], renewed[33], sent[33];
  jar j = start_session(e, "n", "1", key);
  const jar old = j;
  advance(&r->clock, INTERVAL);
  renew(r, e, &j, key, renewed);
  advance(&r->clock, 59999);
  jar tab = old;
  CHECK(request(e, &tab, KS_LOAD_REPORT_LOADED, NULL, NULL, sent, NULL) == 2);
  CHECK_STR(sent, renewed);
  advance(&r->clock, 1);
  check_dead(e, old, key);
  ks_engine_free(e);
  printf("%s: renewGrace 0 is the default grace, 60000 ms: ok\n", r->name);
}

/* ---- ks_cache_headers */

/* Calls ks_cache_headers with a buffer of `cap` bytes; checks the outcome against the
 * expected Cache-Control (NULL: leave it) and Vary ("" : leave it). */
static void cache_case(const char *app_cc, const char *app_vary, const char *want_cc, const char *want_vary) {
  const char *cc = (const char *)1;
  char vary[256];
  size_t len = 999;
  CHECK_OK(ks_cache_headers(app_cc, app_vary, &cc, vary, sizeof vary, &len));
  if (want_cc) {
    CHECK(cc != NULL);
    CHECK_STR(cc, want_cc);
  } else {
    CHECK(cc == NULL);
  }
  CHECK_STR(vary, want_vary);
  CHECK(len == strlen(want_vary));
  /* The documented size always suffices, and the exact size is asked for. */
  size_t enough = (app_vary ? strlen(app_vary) : 0) + 9;
  CHECK(len + 1 <= enough);
  size_t need = 999;
  const char *untouched = (const char *)1;
  ks_result rc = ks_cache_headers(app_cc, app_vary, &untouched, NULL, 0, &need);
  CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, rc);
  CHECK(need == len && untouched == (const char *)1);
  if (len > 0) {
    char small[256];
    memset(small, 'x', sizeof small);
    CHECK_RC(KS_RESULT_INSUFFICIENT_SIZE, ks_cache_headers(app_cc, app_vary, &untouched, small, len, &need));
    CHECK(need == len && small[0] == 'x' && untouched == (const char *)1);
  }
  CHECK_OK(ks_cache_headers(app_cc, app_vary, &cc, vary, len + 1, &need));
  CHECK(need == len);
  CHECK_STR(vary, want_vary);
}

static void cache_headers(void) {
  const char *no_cache = "no-cache=\"Set-Cookie\"";
  cache_case(NULL, NULL, no_cache, "Cookie");                                              /* nothing set */
  cache_case("", " ", no_cache, "Cookie");                                                 /* blank: unset */
  cache_case("public, max-age=60", NULL, NULL, "Cookie");                                  /* the app's kept */
  cache_case("no-store", "Accept-Encoding", NULL, "Accept-Encoding, Cookie");              /* Vary appended */
  cache_case(NULL, "  Accept-Encoding, Origin ", no_cache, "Accept-Encoding, Origin, Cookie"); /* trimmed */
  cache_case(NULL, "Accept, cookie", no_cache, "");                                        /* has Cookie, any case */
  cache_case(NULL, "Origin,COOKIE", no_cache, "");
  cache_case(NULL, "*", no_cache, "");                                                     /* everything varies */
  cache_case(NULL, "Origin, *", no_cache, "");
  cache_case(NULL, "Cookies", no_cache, "Cookies, Cookie");                                /* a token, not a prefix */

  /* NULL out-pointers and invalid UTF-8: errors, nothing written. */
  const char *cc = (const char *)1;
  char vary[64] = "untouched";
  size_t len = 999;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_cache_headers(NULL, NULL, NULL, vary, sizeof vary, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_cache_headers(NULL, NULL, &cc, vary, sizeof vary, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_cache_headers(NULL, NULL, &cc, NULL, sizeof vary, &len));
  CHECK(cc == (const char *)1);
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_cache_headers(BAD_UTF8, NULL, &cc, vary, sizeof vary, &len));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_cache_headers(NULL, BAD_UTF8, &cc, vary, sizeof vary, &len));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_cache_headers("public", BAD_UTF8, &cc, vary, sizeof vary, &len));
  CHECK(cc == (const char *)1 && len == 999);
  CHECK_STR(vary, "untouched");
  char why[256];
  CHECK(strlen(last_error(why, sizeof why)) > 0);
  printf("ks_cache_headers: ok\n");
}

static void suite(const char *name, const ks_store *store, test_store *ts) {
  rig r = {.name = name, .store = store, .ts = ts};
  clock_init(&r.clock);
  renewal_basics(&r);
  parallel_old_cookie(&r);
  logout_during_grace(&r);
  two_renewals_at_once(&r);
  destroy_user_sessions_both_ids(&r);
  default_grace(&r);
  CHECK(atomic_load(&r.clock.calls) > 0);
}

int main(void) {
  setters();
  cache_headers();

  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  suite("memory store", memory, NULL);
  ks_store_free(memory);

  users_store us;
  us_init(&us);
  ks_store *c_store = ts_register_with_cas(&us.ts);
  CHECK_OK(ks_c_store_set_user_index(c_store, us_index_add, us_index_entries, us_index_remove));
  suite("C store", c_store, &us.ts);
  ks_store_free(c_store);
  CHECK(atomic_load(&us.ts.drops) == 1);
  us_deinit(&us);

  redis_suites_of(suite, PREFIX, NULL);

  CHECK_OK(ks_runtime_shutdown());
  puts("test_renewal: ok");
  return 0;
}
