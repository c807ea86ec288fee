/* Session lifetimes through the C API: the idleTimeout and absoluteTimeout options
 * (ks_config_builder_set_idle_timeout_ms, ks_config_builder_set_absolute_timeout_ms) on an
 * engine clock the test moves by hand (ks_config_builder_set_clock), on the memory store, a C
 * store and, when run through tests/c/with_redis.sh, a Redis server and a 3-master Redis
 * Cluster: reads alone keep a session alive for many idle windows and an idle window without
 * a request ends it (KS_LOAD_REPORT_EXPIRED, the record destroyed at commit); constant
 * activity does not outlive the absolute timeout (a regenerate starts it again); a thousand
 * reads within one window cost at most 3 store writes; the engine's times live in the record
 * under "_ks", never in what the application sees, and a record written before the options
 * gets them at its first load. Also: the setters and their errors, a store without
 * compare-and-set refused, the clock called from the runtime's threads (async load), and one
 * real-time run on Redis without the clock (the key's PTTL never past the idle window, the key
 * gone once the window passed). */
#include "lifetime_rig.h"

#include <inttypes.h>
#include <stdarg.h>

static const char *PREFIX = "life:";
static const char SIGNING_KEY[] = "life-key";

/* Time steps are multiplied by this: 1, or 10 under valgrind (KS_TEST_SCALE_DOWN), where the
 * real time between two requests grows and the stores' own TTLs (real time: the memory
 * store's, Redis's) must not run out before the engine's clock says a record is over. */
static int64_t scale;

/* An engine on the rig's store and clock; both timeouts 0: no lifetimes (the "raw" engine
 * that shows records as stored, "_ks" included). */
static ks_engine *engine_with(rig *r, uint64_t idle_ms, uint64_t absolute_ms) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)SIGNING_KEY, strlen(SIGNING_KEY)));
  CHECK_OK(ks_config_builder_set_idle_timeout_ms(b, idle_ms));
  CHECK_OK(ks_config_builder_set_absolute_timeout_ms(b, absolute_ms));
  CHECK_OK(ks_config_builder_set_clock(b, fake_now, &r->clock));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, r->store, &e));
  ks_config_builder_free(b);
  return e;
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
  if (strstr(copy, "_ks")) {
    fprintf(stderr, "the application sees the engine's times: %s\n", copy);
    exit(1);
  }
  char buf[64];
  CHECK_RC(KS_RESULT_NOT_FOUND, ks_session_get_field(s, "_ks", buf, sizeof buf, &len));
}

/* A request: load the jar's session (expecting `report`), optionally set `field` to the JSON
 * `value`, commit, apply the cookies. Returns how many Set-Cookie values came back. */
static size_t request(const ks_engine *e, jar *j, ks_load_report report, const char *field, const char *value) {
  ks_session *s = jar_load(e, j);
  if (ks_session_load_report(s) != report) {
    fprintf(stderr, "load report %u, expected %u\n", (unsigned)ks_session_load_report(s), (unsigned)report);
    exit(1);
  }
  check_hidden(s);
  if (field) CHECK_OK(ks_session_set_field(s, field, value, strlen(value)));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  size_t n = ks_set_cookies_count(cookies);
  jar_apply(j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  return n;
}

/* The engine's times in a stored record; false when it has none. */
static bool times_of(const char *json, int64_t *created, int64_t *active) {
  const char *at = strstr(json, "\"_ks\":");
  if (!at) return false;
  CHECK(strstr(at + 1, "\"_ks\":") == NULL); /* once */
  CHECK(sscanf(at, "\"_ks\":{\"created\":%" SCNd64 ",\"active\":%" SCNd64 "}", created, active) == 2);
  return true;
}

static void check_times(const ks_engine *raw, const jar *j, int64_t created, int64_t active) {
  char json[4096];
  int64_t c, a;
  CHECK(raw_record(raw, j, json, sizeof json) == KS_LOAD_REPORT_LOADED);
  if (!times_of(json, &c, &a) || c != created || a != active) {
    fprintf(stderr, "record %s: expected created %" PRId64 ", active %" PRId64 " (T0 + %" PRId64 ", T0 + %" PRId64 ")\n", json,
            created, active, created - T0, active - T0);
    exit(1);
  }
}

/* ---- Scenarios, each on any store */

/* idleTimeout 1000 ms, a read every 300 ms: alive over 6 windows, the activity time written
 * only past half the window; then 1000 ms without a request: a new session, the record gone. */
static void idle_reads(rig *r) {
  const int64_t idle = 1000 * scale, step = 300 * scale;
  ks_engine *e = engine_with(r, (uint64_t)idle, 0), *raw = engine_with(r, 0, 0);
  const long before = records(r);
  jar j = {""};
  const int64_t start = now_of(&r->clock);
  CHECK(request(e, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "1") == 2);
  CHECK(records(r) == before + 1);
  check_times(raw, &j, start, start);

  int64_t active = start;
  for (int i = 1; i <= 20; i++) {
    advance(&r->clock, step);
    const int64_t now = now_of(&r->clock);
    request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
    if (now - active > idle / 2) active = now; /* refreshed: more than half the window passed */
    check_times(raw, &j, start, active);
  }
  CHECK(now_of(&r->clock) - start == 20 * step); /* 6 idle windows */
  CHECK(active == now_of(&r->clock));

  /* One window without a request: over. */
  advance(&r->clock, idle);
  const jar old = j;
  char old_sid[33], new_sid[33];
  ks_session *s = jar_load(raw, &old);
  sid_of(s, old_sid);
  ks_session_free(s);
  s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_EXPIRED);
  CHECK(ks_session_is_new(s));
  check_hidden(s);
  char buf[64];
  size_t len;
  CHECK_RC(KS_RESULT_NOT_FOUND, ks_session_get_field(s, "n", buf, sizeof buf, &len));
  sid_of(s, new_sid);
  CHECK(strcmp(old_sid, new_sid) != 0);
  /* Until the commit the record is still there. */
  CHECK(records(r) == before + 1);
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  /* An empty new session is not saved: both cookies cleared. */
  CHECK(ks_set_cookies_count(cookies) == 2);
  const char *sid_cookie = set_cookie_for(cookies, "koa.sid");
  CHECK(sid_cookie && strncmp(sid_cookie, "koa.sid=;", 9) == 0);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  CHECK(records(r) == before);
  char json[4096];
  CHECK(raw_record(raw, &old, json, sizeof json) == KS_LOAD_REPORT_MISSING);

  /* Just under a window after the last write is still alive. */
  j.header[0] = '\0';
  const int64_t again = now_of(&r->clock);
  request(e, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "2");
  advance(&r->clock, idle - 1);
  request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
  check_times(raw, &j, again, again + idle - 1);
  advance(&r->clock, idle);
  request(e, &j, KS_LOAD_REPORT_EXPIRED, NULL, NULL);
  CHECK(records(r) == before);

  ks_engine_free(e);
  ks_engine_free(raw);
  printf("%s: idle expiry with reads only: ok\n", r->name);
}

/* absoluteTimeout 2000 ms, a read or a write every 100 ms: a new session at 2000 all the
 * same. A regenerate (a login) starts the count again. */
static void absolute_despite_activity(rig *r) {
  const int64_t absolute = 2000 * scale, step = 100 * scale;
  ks_engine *e = engine_with(r, 0, (uint64_t)absolute), *raw = engine_with(r, 0, 0);
  const long before = records(r);
  jar j = {""};
  const int64_t start = now_of(&r->clock);
  request(e, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "0");
  int64_t active = start;
  for (int i = 1; i < 20; i++) {
    advance(&r->clock, step);
    char n[16];
    snprintf(n, sizeof n, "%d", i);
    bool write = i % 2 == 1;
    request(e, &j, KS_LOAD_REPORT_LOADED, write ? "n" : NULL, n);
    if (write) active = now_of(&r->clock);
    check_times(raw, &j, start, active);
  }
  advance(&r->clock, step);
  CHECK(now_of(&r->clock) - start == absolute);
  const jar old = j;
  request(e, &j, KS_LOAD_REPORT_EXPIRED, "n", "\"fresh\"");
  char json[4096];
  CHECK(raw_record(raw, &old, json, sizeof json) == KS_LOAD_REPORT_MISSING);
  /* The fresh session saved in the same request starts its own count. */
  CHECK(records(r) == before + 1);
  const int64_t fresh = now_of(&r->clock);
  check_times(raw, &j, fresh, fresh);

  /* A regenerate at 1500 restarts it: alive at 2000, over at 1500 + 2000. */
  advance(&r->clock, 1500 * scale);
  ks_session *s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  CHECK_OK(ks_session_regenerate(s));
  CHECK_OK(ks_session_set_field(s, "user", "\"ann\"", 5));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  jar_apply(&j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  const int64_t login = now_of(&r->clock);
  check_times(raw, &j, login, login);
  advance(&r->clock, 500 * scale);
  request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
  advance(&r->clock, absolute - 500 * scale - 1);
  request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
  advance(&r->clock, 1);
  request(e, &j, KS_LOAD_REPORT_EXPIRED, NULL, NULL);
  CHECK(records(r) == before);

  ks_engine_free(e);
  ks_engine_free(raw);
  printf("%s: absolute expiry despite activity: ok\n", r->name);
}

/* The engine's times: in the record, never in the application's view; a record from before
 * the options (no "_ks") loads and is stamped; the application cannot set them. */
static void times_in_the_record(rig *r) {
  const int64_t idle = 1000 * scale, absolute = 3 * idle;
  ks_engine *e = engine_with(r, (uint64_t)idle, (uint64_t)absolute), *raw = engine_with(r, 0, 0);
  jar j = {""};
  char json[4096];
  int64_t c, a;

  /* Written by an engine without the options: no times. */
  request(raw, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "\"legacy\"");
  CHECK(raw_record(raw, &j, json, sizeof json) == KS_LOAD_REPORT_LOADED);
  CHECK(!times_of(json, &c, &a));
  CHECK(strstr(json, "\"n\":\"legacy\"") != NULL);

  /* Loaded with them: its data as it was, and stamped at this commit though unchanged. */
  advance(&r->clock, 10 * idle); /* however old, it has no times to be over */
  ks_session *s = jar_load(e, &j);
  CHECK(ks_session_load_report(s) == KS_LOAD_REPORT_LOADED);
  check_hidden(s);
  char app_view[4096];
  size_t len;
  CHECK_OK(ks_session_json_copy(s, app_view, sizeof app_view, &len));
  CHECK_STR(app_view, json);
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  jar_apply(&j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  const int64_t stamped = now_of(&r->clock);
  check_times(raw, &j, stamped, stamped);
  CHECK(raw_record(raw, &j, json, sizeof json) == KS_LOAD_REPORT_LOADED);
  CHECK(strstr(json, "\"n\":\"legacy\"") != NULL);

  /* The application writes "_ks" itself (a creation far in the future, which would never
   * reach the absolute timeout): the engine's times win. */
  advance(&r->clock, idle / 4);
  s = jar_load(e, &j);
  const char *forged = "{\"created\":9999999999999,\"active\":9999999999999}";
  CHECK_OK(ks_session_set_field(s, "_ks", forged, strlen(forged)));
  CHECK_OK(ks_session_set_field(s, "n", "2", 1));
  CHECK_OK(ks_session_commit(s, true, &cookies));
  jar_apply(&j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);
  check_times(raw, &j, stamped, now_of(&r->clock));
  /* Kept alive by reads, it is over at the stamp plus the absolute timeout, not later. */
  const int64_t step = idle * 6 / 10;
  while (now_of(&r->clock) + step < stamped + absolute) {
    advance(&r->clock, step);
    request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
  }
  advance(&r->clock, stamped + absolute - 1 - now_of(&r->clock));
  request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
  advance(&r->clock, 1);
  request(e, &j, KS_LOAD_REPORT_EXPIRED, NULL, NULL);

  ks_engine_free(e);
  ks_engine_free(raw);
  printf("%s: times in the record, hidden, stamped on old records, not forgeable: ok\n", r->name);
}

/* ---- The C store: what reads cost */

/* idleTimeout 10 min; 1000 reads 500 ms apart (500 s, within one window): at most 3 writes
 * or touches in all (the one past half the window). */
static void read_cost(rig *r) {
  const uint64_t idle = 600000;
  ks_engine *e = engine_with(r, idle, 0);
  jar j = {""};
  request(e, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "1");
  test_store *ts = r->ts;
  atomic_store(&ts->set_calls, 0);
  atomic_store(&ts->cas_calls, 0);
  atomic_store(&ts->touch_calls, 0);
  const int calls_before = atomic_load(&ts->calls);
  for (int i = 0; i < 1000; i++) {
    advance(&r->clock, 500);
    CHECK(request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL) <= 2);
  }
  const int sets = atomic_load(&ts->set_calls), cas = atomic_load(&ts->cas_calls), touches = atomic_load(&ts->touch_calls);
  const int writes = sets + cas + touches;
  printf("%s: 1000 reads in one idle window: %d store writes (set %d, compare-and-set %d, touch %d), %d store calls\n", r->name,
         writes, sets, cas, touches, atomic_load(&ts->calls) - calls_before);
  CHECK(writes >= 1 && writes <= 3);
  ks_engine_free(e);
}

/* ---- Settings */

static void setters(void) {
  char why[512];
  ks_config_builder *b = ks_config_builder_new();
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_idle_timeout_ms(NULL, 1000));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_absolute_timeout_ms(NULL, 1000));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_clock(NULL, fake_now, NULL));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_clock(NULL, NULL, NULL));

  check_ms_out_of_range(b, ks_config_builder_set_idle_timeout_ms,
                        "option \"idleTimeout\": must be a number of milliseconds from 1 to 315360000000 (ten years)");
  check_ms_out_of_range(b, ks_config_builder_set_absolute_timeout_ms, "option \"absoluteTimeout\": must be a number of milliseconds");
  /* A refused value leaves the builder as it was: still off, any store will do. */
  CHECK_OK(ks_config_builder_validate(b));
  check_ms_bounds_accepted(b, ks_config_builder_set_idle_timeout_ms);
  check_ms_bounds_accepted(b, ks_config_builder_set_absolute_timeout_ms);
  CHECK_OK(ks_config_builder_set_clock(b, NULL, NULL)); /* the system clock */
  CHECK_OK(ks_config_builder_validate(b));
  CHECK_STR(last_error(why, sizeof why), "");

  /* A store without compare-and-set is refused while a timeout is set, naming it. */
  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *plain = ts_register(&ts);
  check_refused_without_cas(b, plain, "option \"idleTimeout\"");
  CHECK_OK(ks_config_builder_set_idle_timeout_ms(b, 0));
  check_refused_without_cas(b, plain, "option \"absoluteTimeout\"");
  /* 0 turns them off: the same store is fine then. */
  CHECK_OK(ks_config_builder_set_absolute_timeout_ms(b, 0));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, plain, &e));
  ks_engine_free(e);
  ks_store_free(plain);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);
  ks_config_builder_free(b);
  printf("setters and stores without compare-and-set: ok\n");
}

/* The clock reaches the cookie dates, and is called from the runtime's threads too. */
typedef struct {
  latch done;
  ks_result result;
  ks_session *session;
} async_load;

static void on_loaded(void *userdata, ks_result result, ks_session *session) {
  async_load *l = userdata;
  l->result = result;
  l->session = session;
  latch_add(&l->done);
}

static void clock_reach(rig *r) {
  ks_engine *e = engine_with(r, (uint64_t)(1000 * scale), 0);
  jar j = {""};
  /* Set at the fake time: maxAge one day from 2025-06-15 15:06:40 UTC. */
  atomic_store(&r->clock.now, T0);
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "n", "1", 1));
  ks_set_cookies *cookies = NULL;
  CHECK_OK(ks_session_commit(s, true, &cookies));
  const char *v = set_cookie_for(cookies, "koa.sid");
  CHECK(v && strstr(v, "; expires=Mon, 16 Jun 2025 15:06:40 GMT") != NULL);
  jar_apply(&j, cookies);
  ks_set_cookies_free(cookies);
  ks_session_free(s);

  advance(&r->clock, 1000 * scale);
  async_load l = {.result = KS_RESULT_INTERNAL};
  latch_init(&l.done);
  atomic_store(&r->clock.other_thread_calls, 0);
  CHECK_OK(ks_session_load_async(e, (const uint8_t *)j.header, strlen(j.header), "/", on_loaded, &l));
  latch_wait(&l.done, 1);
  CHECK_OK(l.result);
  CHECK(ks_session_load_report(l.session) == KS_LOAD_REPORT_EXPIRED);
  CHECK(atomic_load(&r->clock.other_thread_calls) > 0);
  CHECK_OK(ks_session_commit(l.session, true, &cookies));
  ks_set_cookies_free(cookies);
  ks_session_free(l.session);
  latch_destroy(&l.done);
  ks_engine_free(e);
  printf("%s: the clock sets cookie dates and runs on runtime threads: ok\n", r->name);
}

static void suite(const char *name, const ks_store *store, test_store *ts) {
  rig r = {.name = name, .store = store, .ts = ts};
  clock_init(&r.clock);
  idle_reads(&r);
  absolute_despite_activity(&r);
  times_in_the_record(&r);
  if (ts) read_cost(&r);
  CHECK(atomic_load(&r.clock.calls) > 0);
}

/* ---- Redis, through tests/c/with_redis.sh */

static const char *cli(const char *port, const char *fmt, ...) {
  static char out[8192];
  char args[1024], cmd[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "redis-cli -h 127.0.0.1 -p %s %s 2>&1", port, args);
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

static void sleep_ms(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&d, &d) != 0 && errno == EINTR) {
  }
}

/* Real time, no engine clock: idleTimeout 1000 ms (a request every 250 ms keeps the session;
 * each write gives the key a PTTL of at most the window), then 1300 ms idle: Redis itself
 * dropped the key. */
static void redis_real_time(const char *url, const char *port) {
  const long idle = 1000;
  ks_store *store = NULL;
  CHECK_OK(ks_redis_store_new(url, PREFIX, 0, 0, &store));
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)SIGNING_KEY, strlen(SIGNING_KEY)));
  CHECK_OK(ks_config_builder_set_idle_timeout_ms(b, (uint64_t)idle));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));
  ks_config_builder_free(b);

  jar j = {""};
  request(e, &j, KS_LOAD_REPORT_NO_COOKIE, "n", "1");
  char sid[33], key[64];
  ks_session *s = jar_load(e, &j); /* read only, not committed: writes nothing */
  sid_of(s, sid);
  ks_session_free(s);
  snprintf(key, sizeof key, "%s%s", PREFIX, sid);
  CHECK(strstr(cli(port, "GET %s", key), "\"_ks\":{\"created\":") != NULL);
  long max_pttl = 0;
  for (int i = 0; i < 6; i++) {
    sleep_ms(250);
    request(e, &j, KS_LOAD_REPORT_LOADED, NULL, NULL);
    long pttl = strtol(cli(port, "PTTL %s", key), NULL, 10);
    CHECK(pttl > 0 && pttl <= idle);
    if (pttl > max_pttl) max_pttl = pttl;
  }
  sleep_ms(idle + 300);
  CHECK(strtol(cli(port, "EXISTS %s", key), NULL, 10) == 0);
  request(e, &j, KS_LOAD_REPORT_MISSING, NULL, NULL);
  ks_engine_free(e);
  ks_store_free(store);
  printf("redis (one server, real time): alive over 1500 ms of reads, PTTL at most %ld ms, gone after %ld ms idle: ok\n", max_pttl,
         idle + 300);
}

/* The real-time run on the one server (its port: KS_TEST_REDIS_PORT). */
static void redis_real_time_on(const char *url) {
  const char *port = getenv("KS_TEST_REDIS_PORT");
  CHECK(port && *port);
  redis_real_time(url, port);
}

int main(void) {
  scale = test_count(1, 10);
  setters();

  ks_store *memory = NULL;
  CHECK_OK(ks_memory_store_new(0, &memory));
  suite("memory store", memory, NULL);
  {
    rig r = {.name = "memory store", .store = memory};
    clock_init(&r.clock);
    clock_reach(&r);
  }
  ks_store_free(memory);

  test_store ts;
  ts_init(&ts, PREFIX);
  ks_store *c_store = ts_register_with_cas(&ts);
  suite("C store", c_store, &ts);
  ks_store_free(c_store);
  CHECK(atomic_load(&ts.drops) == 1);
  ts_deinit(&ts);

  redis_suites_of(suite, PREFIX, redis_real_time_on);

  CHECK_OK(ks_runtime_shutdown());
  puts("test_lifetimes: ok");
  return 0;
}
