/* "Log out everywhere" through the C API (the userField option, issue 19): on the memory
 * store, a C vtable store with user index callbacks, and, when run through
 * tests/c/with_redis.sh, a Redis server and a 3-master Redis Cluster. Five clients log in as
 * "ann" at once (threads) and one as "bob"; ann's sessions are listed, then destroyed (all,
 * then all but one) while requests of them are in flight, which must re-create nothing; a
 * user field holding `true` fails the commit and leaves the record alone. Also: the setter,
 * the bad arguments, the async calls, engines refusing stores that lack a user index, a C
 * store's failing and slow index callbacks. */
#include "redis_rig.h"
#include "test_store.h"

#include <stdint.h>

enum { CLIENTS = 5 };
static const char *FIELD = "passport.user";
static const char *PREFIX = "users:";
static const char BAD_UTF8[] = {'a', (char)0xff, 'n', 0};

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static ks_engine *user_engine(const ks_store *store, uint64_t store_timeout_ms) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"users-key", 9));
  CHECK_OK(ks_config_builder_set_user_field(b, FIELD));
  if (store_timeout_ms) CHECK_OK(ks_config_builder_set_store_timeout_ms(b, store_timeout_ms));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);
  return e;
}

/* ---- A C store with a user index: test_store's records plus a table of (user, sid, since). */

#define UI_MAX 256

typedef struct {
  char *user;
  char *sid;
  int64_t since_ms;
} ui_entry;

typedef struct {
  test_store ts; /* first: the vtable's ctx is this struct and the test_store at once */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ui_entry entries[UI_MAX];
  uint32_t fail_index;  /* a status every index callback returns instead of working */
  uint32_t fail_remove; /* the same for index_remove alone */
  bool add_gate_closed; /* index_add waits here until it opens */
  int at_add_gate;
  atomic_int adds, lists, removes;
} users_store;

static void us_enter(users_store *us, const char *user, size_t user_len) {
  CHECK(atomic_load(&us->ts.drops) == 0);
  CHECK(user != NULL && strlen(user) == user_len && user_len > 0);
  pthread_mutex_lock(&us->mu);
}

static uint32_t us_index_add(void *ctx, const char *user, size_t user_len, const char *sid, size_t sid_len, int64_t since_ms,
                             uint64_t *held_out) {
  users_store *us = ctx;
  atomic_fetch_add(&us->adds, 1);
  CHECK(strlen(sid) == sid_len && sid_len == 32); /* the bare id: no key prefix */
  us_enter(us, user, user_len);
  if (us->add_gate_closed) {
    us->at_add_gate++;
    pthread_cond_broadcast(&us->cv);
    while (us->add_gate_closed) pthread_cond_wait(&us->cv, &us->mu);
    us->at_add_gate--;
  }
  uint32_t status = us->fail_index;
  if (!status) {
    ui_entry *free_slot = NULL, *found = NULL;
    uint64_t held = 0;
    for (int i = 0; i < UI_MAX; i++) {
      ui_entry *x = &us->entries[i];
      if (!x->user) {
        if (!free_slot) free_slot = x;
      } else if (strcmp(x->user, user) == 0) {
        held++;
        if (strcmp(x->sid, sid) == 0) found = x;
      }
    }
    if (!found) {
      CHECK(free_slot != NULL);
      found = free_slot;
      found->user = strdup(user);
      found->sid = strdup(sid);
      held++;
    }
    found->since_ms = since_ms;
    *held_out = held;
  }
  pthread_mutex_unlock(&us->mu);
  return status;
}

static uint32_t us_index_entries(void *ctx, const char *user, size_t user_len, ks_index_entries *out) {
  users_store *us = ctx;
  atomic_fetch_add(&us->lists, 1);
  us_enter(us, user, user_len);
  uint32_t status = us->fail_index;
  int n = 0;
  for (int i = 0; !status && i < UI_MAX; i++) {
    ui_entry *x = &us->entries[i];
    if (x->user && strcmp(x->user, user) == 0) {
      CHECK_OK(ks_index_entries_add(out, x->sid, strlen(x->sid), x->since_ms));
      n++;
    }
  }
  /* Nested calls that fail leave the caller's result alone. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_index_entries_add(out, NULL, 1, 0));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_index_entries_add(out, BAD_UTF8, 3, 0));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_index_entries_add(out, "", 0, 0));
  pthread_mutex_unlock(&us->mu);
  return status ? status : n ? KS_STORE_STATUS_OK : KS_STORE_STATUS_NOT_FOUND;
}

static uint32_t us_index_remove(void *ctx, const char *user, size_t user_len, const char *const *sids, const size_t *sid_lens,
                                size_t count) {
  users_store *us = ctx;
  atomic_fetch_add(&us->removes, 1);
  CHECK(count > 0);
  us_enter(us, user, user_len);
  uint32_t status = us->fail_index ? us->fail_index : us->fail_remove;
  for (size_t k = 0; !status && k < count; k++) {
    CHECK(strlen(sids[k]) == sid_lens[k]);
    for (int i = 0; i < UI_MAX; i++) {
      ui_entry *x = &us->entries[i];
      if (x->user && strcmp(x->user, user) == 0 && strcmp(x->sid, sids[k]) == 0) {
        free(x->user);
        free(x->sid);
        x->user = x->sid = NULL;
      }
    }
  }
  pthread_mutex_unlock(&us->mu);
  return status;
}

static void us_init(users_store *us) {
  memset(us, 0, sizeof *us);
  ts_init(&us->ts, PREFIX);
  pthread_mutex_init(&us->mu, NULL);
  pthread_cond_init(&us->cv, NULL);
}

/* Registered with compare-and-set, touch and the user index. */
static ks_store *us_register(users_store *us) {
  ks_store *store = ts_register_with_cas(&us->ts);
  CHECK_OK(ks_c_store_set_user_index(store, us_index_add, us_index_entries, us_index_remove));
  return store;
}

static int us_entry_count(users_store *us) {
  pthread_mutex_lock(&us->mu);
  int n = 0;
  for (int i = 0; i < UI_MAX; i++) n += us->entries[i].user != NULL;
  pthread_mutex_unlock(&us->mu);
  return n;
}

static void us_gate_set(users_store *us, bool closed) {
  pthread_mutex_lock(&us->mu);
  us->add_gate_closed = closed;
  pthread_cond_broadcast(&us->cv);
  pthread_mutex_unlock(&us->mu);
}

static void us_wait_at_gate(users_store *us) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&us->mu);
  while (us->at_add_gate < 1) CHECK(pthread_cond_timedwait(&us->cv, &us->mu, &until) != ETIMEDOUT);
  pthread_mutex_unlock(&us->mu);
}

static void us_deinit(users_store *us) {
  for (int i = 0; i < UI_MAX; i++) {
    free(us->entries[i].user);
    free(us->entries[i].sid);
  }
  pthread_mutex_destroy(&us->mu);
  pthread_cond_destroy(&us->cv);
  ts_deinit(&us->ts);
}

/* ---- Clients */

typedef struct {
  const ks_engine *e;
  const char *user_json; /* the value of passport.user, as JSON */
  int n;
  jar j;
  char sid[33];
} client;

static void sid_of(const ks_session *s, char out[33]) {
  const char *id;
  size_t len;
  CHECK_OK(ks_session_id(s, &id, &len));
  CHECK(len == 32);
  memcpy(out, id, len + 1);
}

/* A new visitor logs in: load with no cookie, set passport.user and a device name, commit. */
static void *log_in(void *arg) {
  client *c = arg;
  c->j.header[0] = '\0';
  ks_session *s = jar_load(c->e, &c->j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_NO_COOKIE);
  char passport[64], device[32];
  int len = snprintf(passport, sizeof passport, "{\"user\":%s}", c->user_json);
  CHECK_OK(ks_session_set_field(s, "passport", passport, (size_t)len));
  len = snprintf(device, sizeof device, "\"device %d\"", c->n);
  CHECK_OK(ks_session_set_field(s, "device", device, (size_t)len));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  CHECK(ks_set_cookies_count(cookies) == 2);
  jar_apply(&c->j, cookies);
  ks_set_cookies_free(cookies);
  sid_of(s, c->sid);
  ks_session_free(s);
  return NULL;
}

static void log_in_all(const ks_engine *e, client *cs, int n, const char *user_json) {
  pthread_t threads[CLIENTS];
  CHECK(n <= CLIENTS);
  for (int i = 0; i < n; i++) {
    cs[i] = (client){.e = e, .user_json = user_json, .n = i};
    CHECK(pthread_create(&threads[i], NULL, log_in, &cs[i]) == 0);
  }
  for (int i = 0; i < n; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < i; k++) CHECK(strcmp(cs[i].sid, cs[k].sid) != 0);
}

static ks_load_report report_of(const ks_engine *e, const client *c) {
  ks_session *s = jar_load(e, &c->j);
  ks_load_report r = ks_session_load_report(s);
  ks_session_free(s);
  return r;
}

/* The listing of `user` is exactly the sessions of `cs` (any order in `cs`), oldest login
 * first, each stamped between `t0` and now and holding its data. */
static void check_listed(const ks_store *store, const char *user, const client *const *cs, size_t n, int64_t t0) {
  ks_user_sessions *list = NULL;
  CHECK_OK(ks_store_user_sessions(store, FIELD, user, &list));
  CHECK(ks_user_sessions_count(list) == n);
  bool seen[CLIENTS + 1] = {false};
  int64_t last = INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    const char *id, *json;
    size_t id_len, json_len;
    int64_t since = 0;
    CHECK_OK(ks_user_sessions_id(list, i, &id, &id_len));
    CHECK_OK(ks_user_sessions_get(list, i, &since, &json, &json_len));
    CHECK(strlen(id) == id_len && strlen(json) == json_len);
    CHECK(since >= t0 - 1000 && since <= now_ms() + 1000);
    CHECK(since >= last);
    last = since;
    size_t k = 0;
    while (k < n && strcmp(cs[k]->sid, id) != 0) k++;
    CHECK(k < n && !seen[k]);
    seen[k] = true;
    char device[32];
    snprintf(device, sizeof device, "\"device\":\"device %d\"", cs[k]->n);
    CHECK(strstr(json, device) != NULL);
    CHECK(strstr(json, "\"passport\":{\"user\":") != NULL);
  }
  const char *id;
  size_t len;
  int64_t since;
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_user_sessions_id(list, n, &id, &len));
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_user_sessions_get(list, n, &since, &id, &len));
  ks_user_sessions_free(list);
}

static void check_listed_all(const ks_store *store, const char *user, const client *cs, size_t n, int64_t t0) {
  const client *ptrs[CLIENTS];
  for (size_t i = 0; i < n; i++) ptrs[i] = &cs[i];
  check_listed(store, user, ptrs, n, t0);
}

/* A request of `c` loaded before the destroy and committed, changed, after it. */
typedef struct {
  client *c;
  pthread_barrier_t *loaded, *destroyed;
} in_flight;

static void barrier(pthread_barrier_t *b) {
  int rc = pthread_barrier_wait(b);
  CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void *late_commit(void *arg) {
  in_flight *f = arg;
  ks_session *s = jar_load(f->c->e, &f->c->j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  barrier(f->loaded);
  barrier(f->destroyed);
  CHECK_OK(ks_session_set_field(s, "late", "true", 4));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  /* Nothing written: both cookies cleared. The jar keeps the old ones, to try them again. */
  CHECK(ks_set_cookies_count(cookies) == 2);
  const char *sid_cookie = set_cookie_for(cookies, "koa.sid"), *sig_cookie = set_cookie_for(cookies, "koa.sid.sig");
  CHECK(sid_cookie && strncmp(sid_cookie, "koa.sid=;", 9) == 0);
  CHECK(sig_cookie && strncmp(sig_cookie, "koa.sid.sig=;", 13) == 0);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  return NULL;
}

/* How many session records the store holds: ks_store_length (the memory and Redis stores:
 * a Redis store's user indexes lie outside its prefix), or the C store's table. */
typedef long (*record_count_fn)(const ks_store *store, users_store *us);

static long count_length(const ks_store *store, users_store *us) {
  (void)us;
  uint64_t n = 0;
  CHECK_OK(ks_store_length(store, &n));
  return (long)n;
}

static long count_c(const ks_store *store, users_store *us) {
  (void)store;
  return ts_count(&us->ts);
}

/* Destroys ann's sessions (all, or all but `except`) while a request of each of those is in
 * flight: loaded before the destroy, changed and committed after it. Returns the count. */
static uint64_t destroy_in_flight(const ks_store *store, client *cs, const char *except) {
  pthread_t threads[CLIENTS];
  in_flight flights[CLIENTS];
  pthread_barrier_t loaded, destroyed;
  int late = 0;
  for (int i = 0; i < CLIENTS; i++)
    if (!except || strcmp(cs[i].sid, except) != 0) flights[late++] = (in_flight){.c = &cs[i], .loaded = &loaded, .destroyed = &destroyed};
  CHECK(late == (except ? CLIENTS - 1 : CLIENTS));
  /* The late requests and this thread meet twice: all loaded, then destroyed. */
  CHECK(pthread_barrier_init(&loaded, NULL, (unsigned)late + 1) == 0);
  CHECK(pthread_barrier_init(&destroyed, NULL, (unsigned)late + 1) == 0);
  for (int i = 0; i < late; i++) CHECK(pthread_create(&threads[i], NULL, late_commit, &flights[i]) == 0);
  barrier(&loaded);
  uint64_t n = 777;
  CHECK_OK(ks_store_destroy_user_sessions(store, "ann", except, &n));
  barrier(&destroyed);
  for (int i = 0; i < late; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  pthread_barrier_destroy(&loaded);
  pthread_barrier_destroy(&destroyed);
  return n;
}

/* ---- Async */

typedef struct {
  latch done;
  const ks_store *store;
  ks_result result;
  uint64_t count;
  ks_user_sessions *list;
  char error[256];
} async_call;

static void on_destroyed(void *userdata, ks_result result, uint64_t count) {
  async_call *c = userdata;
  c->result = result;
  c->count = count;
  last_error(c->error, sizeof c->error);
  uint64_t n;
  /* A blocking call in a callback is refused. */
  CHECK_RC(KS_RESULT_BLOCKING_IN_RUNTIME, ks_store_destroy_user_sessions(c->store, "x", NULL, &n));
  latch_add(&c->done);
}

static void on_listed(void *userdata, ks_result result, ks_user_sessions *list) {
  async_call *c = userdata;
  c->result = result;
  c->list = list;
  last_error(c->error, sizeof c->error);
  latch_add(&c->done);
}

static void test_async(const ks_engine *e, const ks_store *store, int64_t t0) {
  client cs[2];
  log_in_all(e, cs, 2, "\"cy\"");
  async_call c = {.result = KS_RESULT_INTERNAL, .store = store};
  latch_init(&c.done);
  CHECK_OK(ks_store_user_sessions_async(store, FIELD, "cy", on_listed, &c));
  latch_wait(&c.done, 1);
  CHECK_OK(c.result);
  CHECK_STR(c.error, "");
  CHECK(ks_user_sessions_count(c.list) == 2);
  ks_user_sessions_free(c.list);
  check_listed_all(store, "cy", cs, 2, t0);

  CHECK_OK(ks_store_destroy_user_sessions_async(store, "cy", NULL, on_destroyed, &c));
  latch_wait(&c.done, 2);
  CHECK_OK(c.result);
  CHECK(c.count == 2);
  CHECK(report_of(e, &cs[0]) == KS_LOAD_REPORT_MISSING && report_of(e, &cs[1]) == KS_LOAD_REPORT_MISSING);

  /* Argument errors come back from the call, and the callback is never called. */
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_destroy_user_sessions_async(store, "cy", NULL, NULL, &c));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_destroy_user_sessions_async(NULL, "cy", NULL, on_destroyed, &c));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_destroy_user_sessions_async(store, "", NULL, on_destroyed, &c));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_destroy_user_sessions_async(store, "cy", BAD_UTF8, on_destroyed, &c));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions_async(store, FIELD, "cy", NULL, &c));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions_async(store, NULL, "cy", on_listed, &c));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions_async(store, "a..b", "cy", on_listed, &c));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_user_sessions_async(store, FIELD, BAD_UTF8, on_listed, &c));
  /* An empty listing. */
  CHECK_OK(ks_store_user_sessions_async(store, FIELD, "cy", on_listed, &c));
  latch_wait(&c.done, 3);
  CHECK_OK(c.result);
  CHECK(ks_user_sessions_count(c.list) == 0);
  ks_user_sessions_free(c.list);
  CHECK(latch_get(&c.done) == 3);
  latch_destroy(&c.done);
}

/* ---- The suite, on any store with a user index */

static void suite(const char *name, const ks_store *store, users_store *us, record_count_fn records) {
  ks_engine *e = user_engine(store, 0);
  const int64_t t0 = now_ms();
  const long before = records(store, us);

  client ann[CLIENTS], bob[1];
  log_in_all(e, ann, CLIENTS, "\"ann\"");
  log_in_all(e, bob, 1, "\"bob\"");
  CHECK(records(store, us) == before + CLIENTS + 1);
  check_listed_all(store, "ann", ann, CLIENTS, t0);
  check_listed_all(store, "bob", bob, 1, t0);
  check_listed_all(store, "nobody", NULL, 0, t0);

  /* Log out everywhere, with a request of every session in flight. */
  CHECK(destroy_in_flight(store, ann, NULL) == CLIENTS);
  for (int i = 0; i < CLIENTS; i++) CHECK(report_of(e, &ann[i]) == KS_LOAD_REPORT_MISSING);
  CHECK(report_of(e, &bob[0]) == KS_LOAD_REPORT_LOADED);
  CHECK(records(store, us) == before + 1);
  check_listed_all(store, "ann", NULL, 0, t0);
  uint64_t n = 777;
  CHECK_OK(ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 0);

  /* Log out my other devices: all but one. */
  log_in_all(e, ann, CLIENTS, "\"ann\"");
  const client *keep[] = {&ann[2]};
  char kept[33];
  memcpy(kept, ann[2].sid, sizeof kept);
  CHECK(destroy_in_flight(store, ann, kept) == CLIENTS - 1);
  for (int i = 0; i < CLIENTS; i++) CHECK(report_of(e, &ann[i]) == (i == 2 ? KS_LOAD_REPORT_LOADED : KS_LOAD_REPORT_MISSING));
  CHECK(report_of(e, &bob[0]) == KS_LOAD_REPORT_LOADED);
  check_listed(store, "ann", keep, 1, t0);
  CHECK(records(store, us) == before + 2);

  /* A user field that is no user id: the commit fails, the stored record stays as it was. */
  ks_session *s = jar_load(e, &bob[0].j);
  char json_before[512], json_after[512];
  size_t len;
  CHECK_OK(ks_session_json_copy(s, json_before, sizeof json_before, &len));
  CHECK_OK(ks_session_set_field(s, "passport", "{\"user\":true}", 13));
  ks_set_cookies *cookies = (ks_set_cookies *)1;
  CHECK_RC(KS_RESULT_INVALID_USER_ID, ks_session_commit(s, true, &cookies));
  CHECK(cookies == (ks_set_cookies *)1);
  char why[512];
  CHECK(strstr(last_error(why, sizeof why), "'passport.user'") != NULL);
  CHECK(strstr(why, "a boolean") != NULL);
  ks_session_free(s);
  s = jar_load(e, &bob[0].j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_OK(ks_session_json_copy(s, json_after, sizeof json_after, &len));
  CHECK_STR(json_after, json_before);
  ks_session_free(s);
  /* A new session so: nothing stored. */
  client dud = {.e = e};
  s = jar_load(e, &dud.j);
  CHECK_OK(ks_session_set_field(s, "passport", "{\"user\":\"\"}", 11));
  CHECK_RC(KS_RESULT_INVALID_USER_ID, ks_session_commit(s, true, &cookies));
  ks_session_free(s);
  CHECK(records(store, us) == before + 2);
  check_listed(store, "bob", (const client *[]){&bob[0]}, 1, t0);

  /* A number is a user id: its JSON text. */
  client num[1];
  log_in_all(e, num, 1, "42");
  check_listed_all(store, "42", num, 1, t0);
  CHECK_OK(ks_store_destroy_user_sessions(store, "42", NULL, &n));
  CHECK(n == 1 && report_of(e, &num[0]) == KS_LOAD_REPORT_MISSING);

  test_async(e, store, t0);

  /* Clean up: the last of ann, then bob. */
  CHECK_OK(ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 1 && report_of(e, &ann[2]) == KS_LOAD_REPORT_MISSING);
  CHECK_OK(ks_store_destroy_user_sessions(store, "bob", "not-bobs", &n));
  CHECK(n == 1 && report_of(e, &bob[0]) == KS_LOAD_REPORT_MISSING);
  CHECK(records(store, us) == before);
  ks_engine_free(e);
  printf("%s: ok\n", name);
}

/* ---- Settings, arguments, stores without an index */

static void test_setter(void) {
  ks_config_builder *b = ks_config_builder_new();
  char why[512];
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_user_field(NULL, "uid"));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_config_builder_set_user_field(b, BAD_UTF8));
  const char *bad[] = {"", ".", "a.", ".a", "a..b", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_config_builder_set_user_field(b, bad[i]));
    CHECK(strstr(last_error(why, sizeof why), "userField") != NULL);
  }
  CHECK_OK(ks_config_builder_set_user_field(b, "uid"));
  CHECK_OK(ks_config_builder_set_user_field(b, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"));
  CHECK_OK(ks_config_builder_set_user_field(b, "passport.user"));
  CHECK_OK(ks_config_builder_validate(b));

  /* A store without what userField needs is refused, saying what it lacks. */
  users_store us;
  us_init(&us);
  ks_store *plain = ts_register(&us.ts);
  ks_engine *e = (ks_engine *)1;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_engine_new(b, plain, &e));
  CHECK(e == (ks_engine *)1);
  last_error(why, sizeof why);
  CHECK(strstr(why, "userField") && strstr(why, "compare-and-set") && strstr(why, "user index"));
  /* NULL clears the option: the same store is fine then. */
  CHECK_OK(ks_config_builder_set_user_field(b, NULL));
  CHECK_OK(ks_engine_new(b, plain, &e));
  ks_engine_free(e);
  ks_store_free(plain);
  CHECK(atomic_load(&us.ts.drops) == 1);
  us_deinit(&us);

  CHECK_OK(ks_config_builder_set_user_field(b, "passport.user"));
  us_init(&us);
  ks_store *cas_only = ts_register_with_cas(&us.ts);
  e = (ks_engine *)1;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_engine_new(b, cas_only, &e));
  CHECK(e == (ks_engine *)1);
  last_error(why, sizeof why);
  CHECK(strstr(why, "user index") && !strstr(why, "compare-and-set"));
  /* Nor do the store calls pretend: no index, no success. */
  uint64_t n = 777;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_destroy_user_sessions(cas_only, "ann", NULL, &n));
  CHECK(n == 777);
  CHECK(strstr(last_error(why, sizeof why), "ks_store_destroy_user_sessions: this store keeps no user index") != NULL);
  ks_user_sessions *list = (ks_user_sessions *)1;
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions(cas_only, FIELD, "ann", &list));
  CHECK(list == (ks_user_sessions *)1);
  CHECK(strstr(last_error(why, sizeof why), "no user index") != NULL);
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_destroy_user_sessions_async(cas_only, "ann", NULL, on_destroyed, NULL));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions_async(cas_only, FIELD, "ann", on_listed, NULL));
  ks_store_free(cas_only);
  us_deinit(&us);

  us_init(&us);
  ks_store *index_only = ts_register(&us.ts);
  CHECK_OK(ks_c_store_set_user_index(index_only, us_index_add, us_index_entries, us_index_remove));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_engine_new(b, index_only, &e));
  last_error(why, sizeof why);
  CHECK(!strstr(why, "user index") && strstr(why, "compare-and-set"));
  ks_store_free(index_only);
  us_deinit(&us);
  ks_config_builder_free(b);
}

static void test_index_registration(void) {
  users_store us;
  us_init(&us);
  ks_store *store = ts_register_with_cas(&us.ts);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_user_index(NULL, us_index_add, us_index_entries, us_index_remove));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_user_index(store, NULL, us_index_entries, us_index_remove));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_user_index(store, us_index_add, NULL, us_index_remove));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_c_store_set_user_index(store, us_index_add, us_index_entries, NULL));
  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_user_index(memory, us_index_add, us_index_entries, us_index_remove));
  ks_store_free(memory);
  CHECK_OK(ks_c_store_set_user_index(store, us_index_add, us_index_entries, us_index_remove));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_user_index(store, us_index_add, us_index_entries, us_index_remove));
  ks_store_free(store);
  us_deinit(&us);

  /* Not once an engine uses the store. */
  us_init(&us);
  store = ts_register_with_cas(&us.ts);
  ks_config_builder *b = ks_config_builder_new();
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_c_store_set_user_index(store, us_index_add, us_index_entries, us_index_remove));
  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
  us_deinit(&us);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_index_entries_add(NULL, "x", 1, 0));
}

static void test_bad_arguments(const ks_store *store) {
  uint64_t n = 777;
  char why[512];
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_destroy_user_sessions(NULL, "ann", NULL, &n));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_destroy_user_sessions(store, NULL, NULL, &n));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_destroy_user_sessions(store, "ann", NULL, NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_destroy_user_sessions(store, BAD_UTF8, NULL, &n));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_destroy_user_sessions(store, "ann", BAD_UTF8, &n));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_destroy_user_sessions(store, "", NULL, &n));
  CHECK(strstr(last_error(why, sizeof why), "user id must be a non-empty string of at most 512 bytes") != NULL);
  char long_id[514];
  memset(long_id, 'x', 513);
  long_id[513] = '\0';
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_destroy_user_sessions(store, long_id, NULL, &n));
  CHECK(n == 777);
  long_id[512] = '\0';
  CHECK_OK(ks_store_destroy_user_sessions(store, long_id, NULL, &n));
  CHECK(n == 0);

  ks_user_sessions *list = (ks_user_sessions *)1;
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions(NULL, FIELD, "ann", &list));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions(store, NULL, "ann", &list));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions(store, FIELD, NULL, &list));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_store_user_sessions(store, FIELD, "ann", NULL));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_user_sessions(store, BAD_UTF8, "ann", &list));
  CHECK_RC(KS_RESULT_INVALID_UTF8, ks_store_user_sessions(store, FIELD, BAD_UTF8, &list));
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions(store, "passport..user", "ann", &list));
  CHECK(strstr(last_error(why, sizeof why), "userField") != NULL);
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions(store, FIELD, "", &list));
  long_id[512] = 'x';
  CHECK_RC(KS_RESULT_INVALID_ARGUMENT, ks_store_user_sessions(store, FIELD, long_id, &list));
  CHECK(list == (ks_user_sessions *)1);

  CHECK_OK(ks_store_user_sessions(store, FIELD, "nobody", &list));
  CHECK(ks_user_sessions_count(list) == 0);
  const char *p;
  size_t len;
  int64_t since;
  CHECK_RC(KS_RESULT_OUT_OF_RANGE, ks_user_sessions_get(list, 0, &since, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_get(list, 0, NULL, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_get(list, 0, &since, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_get(list, 0, &since, &p, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_id(list, 0, NULL, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_id(list, 0, &p, NULL));
  ks_user_sessions_free(list);
  CHECK(ks_user_sessions_count(NULL) == 0);
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_get(NULL, 0, &since, &p, &len));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_user_sessions_id(NULL, 0, &p, &len));
  ks_user_sessions_free(NULL);
}

/* A C store's index callbacks: a failure fails the call with the store error (a login writes
 * no record; a destroy does not report success), and a slow one meets the deadline. */
static void test_c_index_failures(void) {
  users_store us;
  us_init(&us);
  ks_store *store = us_register(&us);
  ks_engine *e = user_engine(store, 300);
  client c = {.e = e, .user_json = "\"ann\"", .n = 0};
  char why[512];

  us.fail_index = KS_STORE_STATUS_UNAVAILABLE;
  ks_session *s = jar_load(e, &c.j);
  CHECK_OK(ks_session_set_field(s, "passport", "{\"user\":\"ann\"}", 14));
  ks_set_cookies *cookies = NULL;
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, ks_session_commit(s, true, &cookies));
  CHECK(strstr(last_error(why, sizeof why), "C store index_add: unavailable") != NULL);
  CHECK(ts_count(&us.ts) == 0); /* index first: no record without its entry */
  uint64_t n = 777;
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 777);
  CHECK(strstr(last_error(why, sizeof why), "C store index_entries: unavailable") != NULL);
  ks_user_sessions *list = NULL;
  CHECK_RC(KS_RESULT_STORE_UNAVAILABLE, ks_store_user_sessions(store, FIELD, "ann", &list));
  CHECK(list == NULL);

  /* The commit may be retried once the store is back. */
  us.fail_index = 0;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  jar_apply(&c.j, cookies);
  ks_set_cookies_free(cookies);
  sid_of(s, c.sid);
  ks_session_free(s);
  CHECK(ts_count(&us.ts) == 1 && us_entry_count(&us) == 1);

  /* A record destroy that fails: the call fails, the index keeps its entry. */
  atomic_store(&us.removes, 0);
  us.ts.fail_destroy = KS_STORE_STATUS_ERROR;
  CHECK_RC(KS_RESULT_STORE_ERROR, ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  us.ts.fail_destroy = 0;
  CHECK(atomic_load(&us.removes) == 0 && us_entry_count(&us) == 1 && ts_count(&us.ts) == 1);
  /* An index_remove that fails after the records went: the call fails. Called again, it
   * finds the record missing and keeps the entry (a missing record may be a login between
   * its index write and its record write); pruning drops it once old. */
  us.fail_remove = KS_STORE_STATUS_REJECTED;
  CHECK_RC(KS_RESULT_STORE_REJECTED, ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 777 && ts_count(&us.ts) == 0 && us_entry_count(&us) == 1);
  us.fail_remove = 0;
  CHECK_OK(ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 0 && us_entry_count(&us) == 1);
  CHECK(report_of(e, &c) == KS_LOAD_REPORT_MISSING);

  /* index_add past the engine's deadline (300 ms): the login fails at once, writes nothing. */
  c.j.header[0] = '\0';
  us_gate_set(&us, true);
  s = jar_load(e, &c.j);
  CHECK_OK(ks_session_set_field(s, "passport", "{\"user\":\"ann\"}", 14));
  CHECK_RC(KS_RESULT_STORE_TIMEOUT, ks_session_commit(s, true, &cookies));
  CHECK_STR(last_error(why, sizeof why), "session store index_add did not answer within 300 ms (storeTimeout)");
  us_wait_at_gate(&us); /* abandoned, still running */
  CHECK(ts_count(&us.ts) == 0);
  us_gate_set(&us, false);
  CHECK_OK(ks_session_commit(s, true, &cookies));
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  CHECK(ts_count(&us.ts) == 1);
  CHECK_OK(ks_store_destroy_user_sessions(store, "ann", NULL, &n));
  CHECK(n == 1 && ts_count(&us.ts) == 0);

  ks_engine_free(e);
  ks_store_free(store);
  /* `drop` waits for the abandoned callback. */
  for (int i = 0; i < 6000 && atomic_load(&us.ts.drops) == 0; i++) {
    struct timespec d = {0, 10 * 1000 * 1000};
    nanosleep(&d, NULL);
  }
  CHECK(atomic_load(&us.ts.drops) == 1);
  us_deinit(&us);
  printf("C store index failures and deadline: ok\n");
}

/* ---- Redis, through tests/c/with_redis.sh */

static void redis_suite(const char *name, const ks_store *store, test_store *ts) {
  (void)ts;
  test_bad_arguments(store);
  suite(name, store, NULL, count_length);
}

int main(void) {
  test_setter();
  test_index_registration();

  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  test_bad_arguments(memory);
  suite("memory store", memory, NULL, count_length);
  ks_store_free(memory);

  users_store us;
  us_init(&us);
  ks_store *c_store = us_register(&us);
  test_bad_arguments(c_store);
  suite("C store with a user index", c_store, &us, count_c);
  CHECK(atomic_load(&us.adds) > 0 && atomic_load(&us.lists) > 0 && atomic_load(&us.removes) > 0);
  CHECK(us_entry_count(&us) == 0);
  ks_store_free(c_store);
  CHECK(atomic_load(&us.ts.drops) == 1);
  us_deinit(&us);

  test_c_index_failures();
  redis_suites_of(redis_suite, PREFIX, NULL);

  CHECK_OK(ks_runtime_shutdown());
  puts("test_users: ok");
  return 0;
}
