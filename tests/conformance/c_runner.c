/* Runs one conformance scenario through the C API with a recording C store, and prints the
 * trace (tests/conformance/README.md). The scenario comes on stdin as the line-based script
 * c_script.py makes from the scenario's JSON: C has no JSON parser, so this program is a
 * plain loop over commands, each one a ks_ call. It makes no session decision of its own.
 *
 * A request runs the way a C server would run it: ks_session_load, the handler's actions
 * (ks_session_* calls), then ks_session_commit and the Set-Cookie values. Like the Koa
 * middleware, a handler that fails still commits the session, then the request answers 500. */
#include "koa_session.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RECORDS 64
#define MAX_REQUESTS 16
#define MAX_COOKIES 8
#define MAX_ACTIONS 64
#define TEXT_MAX 8192
#define MAX_INDEX 64

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("c_runner: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void must(ks_result rc, const char *what) {
  if (rc != KS_RESULT_OK) die("%s: %s", what, ks_result_message(rc));
}

static char *dup_str(const char *s) {
  char *d = strdup(s);
  if (!d) die("out of memory");
  return d;
}

/* The scenario clock (README: "The clock"): -1 until a `clock` command sets it, then the
 * engine's clock (`config clock`) and the runner's; the script sets it before each request. */
static _Atomic long long scenario_now = -1;

static int64_t scenario_clock(void *userdata) {
  (void)userdata;
  return (int64_t)atomic_load(&scenario_now);
}

static long long now_ms(void) {
  long long fixed = atomic_load(&scenario_now);
  if (fixed >= 0) return fixed;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- The recording store: records as JSON text under their key; every call printed. ---- */

typedef struct {
  char *key;
  char *json;
} record;

/* One entry of a user's index (the `userField` option): session `sid` of user `user`. */
typedef struct {
  char *user;
  char *sid;
  int64_t since_ms;
} index_entry;

typedef struct {
  pthread_mutex_t mu;
  record records[MAX_RECORDS];
  /* In the order first indexed, as the Koa runner's store keeps them. */
  index_entry index[MAX_INDEX];
  bool fail_get, fail_set, fail_destroy, fail_cas, fail_index_add;
} recording_store;

/* Called with the lock held. */
static record *find(recording_store *rs, const char *key) {
  for (int i = 0; i < MAX_RECORDS; i++)
    if (rs->records[i].key && strcmp(rs->records[i].key, key) == 0) return &rs->records[i];
  return NULL;
}

/* Called with the lock held. */
static void put(recording_store *rs, const char *key, const char *json) {
  record *r = find(rs, key);
  for (int i = 0; !r && i < MAX_RECORDS; i++)
    if (!rs->records[i].key) r = &rs->records[i];
  if (!r) die("the recording store is full");
  if (!r->key) r->key = dup_str(key);
  free(r->json);
  r->json = dup_str(json);
}

static uint32_t rs_get(void *ctx, const char *key, size_t key_len, ks_buffer *out) {
  (void)key_len;
  recording_store *rs = ctx;
  uint32_t status = KS_STORE_STATUS_ERROR;
  pthread_mutex_lock(&rs->mu);
  record *r = find(rs, key);
  if (rs->fail_get) {
    printf("store get %s -> FAIL\n", key);
  } else if (!r) {
    printf("store get %s -> miss\n", key);
    status = KS_STORE_STATUS_NOT_FOUND;
  } else {
    printf("store get %s -> hit\n", key);
    must(ks_buffer_write(out, (const uint8_t *)r->json, strlen(r->json)), "ks_buffer_write");
    status = KS_STORE_STATUS_OK;
  }
  pthread_mutex_unlock(&rs->mu);
  return status;
}

static uint32_t rs_set(void *ctx, const char *key, size_t key_len, const char *json, size_t json_len,
                       uint64_t ttl_ms) {
  (void)key_len;
  (void)json_len;
  recording_store *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  bool fail = rs->fail_set;
  if (!fail) put(rs, key, json);
  printf("store set %s ttl=%llu %s -> %s\n", key, (unsigned long long)ttl_ms, json, fail ? "FAIL" : "ok");
  pthread_mutex_unlock(&rs->mu);
  return fail ? KS_STORE_STATUS_ERROR : KS_STORE_STATUS_OK;
}

static uint32_t rs_destroy(void *ctx, const char *key, size_t key_len) {
  (void)key_len;
  recording_store *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  bool fail = rs->fail_destroy;
  record *r = find(rs, key);
  if (!fail && r) {
    free(r->key);
    free(r->json);
    r->key = r->json = NULL;
  }
  printf("store destroy %s -> %s\n", key, fail ? "FAIL" : "ok");
  pthread_mutex_unlock(&rs->mu);
  return fail ? KS_STORE_STATUS_ERROR : KS_STORE_STATUS_OK;
}

/* With `userField` (the `userindex` command): compare-and-set and a user index, which that
 * option needs, recorded like the rest. */

static uint32_t rs_compare_and_set(void *ctx, const char *key, size_t key_len, const char *expected, size_t expected_len,
                                   const char *json, size_t json_len, uint64_t ttl_ms, ks_buffer *current) {
  (void)key_len;
  (void)json_len;
  recording_store *rs = ctx;
  uint32_t status = KS_STORE_STATUS_ERROR;
  const char *said = "FAIL";
  pthread_mutex_lock(&rs->mu);
  record *r = find(rs, key);
  if (rs->fail_cas) {
    /* an injected failure: "FAIL", KS_STORE_STATUS_ERROR */
  } else if (!r) {
    said = "miss";
    status = KS_STORE_STATUS_NOT_FOUND;
  } else if (strlen(r->json) != expected_len || memcmp(r->json, expected, expected_len) != 0) {
    said = "changed";
    must(ks_buffer_write(current, (const uint8_t *)r->json, strlen(r->json)), "ks_buffer_write");
    status = KS_STORE_STATUS_CHANGED;
  } else {
    put(rs, key, json);
    said = "ok";
    status = KS_STORE_STATUS_OK;
  }
  printf("store cas %s ttl=%llu %s -> %s\n", key, (unsigned long long)ttl_ms, json, said);
  pthread_mutex_unlock(&rs->mu);
  return status;
}

static uint32_t rs_index_add(void *ctx, const char *user, size_t user_len, const char *sid, size_t sid_len, int64_t since_ms,
                             uint64_t *held_out) {
  (void)user_len;
  (void)sid_len;
  recording_store *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  bool fail = rs->fail_index_add;
  if (!fail) {
    index_entry *slot = NULL;
    uint64_t held = 0;
    for (int i = 0; i < MAX_INDEX; i++) {
      index_entry *e = &rs->index[i];
      if (e->user && strcmp(e->user, user) == 0) {
        held++;
        if (strcmp(e->sid, sid) == 0) slot = e;
      }
    }
    if (!slot) {
      /* A new entry goes after every other (the first free slot past the last used one). */
      int last = -1;
      for (int i = 0; i < MAX_INDEX; i++)
        if (rs->index[i].user) last = i;
      if (last + 1 == MAX_INDEX) die("the recording store's index is full");
      slot = &rs->index[last + 1];
      slot->user = dup_str(user);
      slot->sid = dup_str(sid);
      held++;
    }
    slot->since_ms = since_ms;
    *held_out = held;
  }
  printf("store index-add %s %s -> %s\n", user, sid, fail ? "FAIL" : "ok");
  pthread_mutex_unlock(&rs->mu);
  return fail ? KS_STORE_STATUS_ERROR : KS_STORE_STATUS_OK;
}

static uint32_t rs_index_entries(void *ctx, const char *user, size_t user_len, ks_index_entries *out) {
  (void)user_len;
  recording_store *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  printf("store index-entries %s ->", user);
  int n = 0;
  for (int i = 0; i < MAX_INDEX; i++) {
    index_entry *e = &rs->index[i];
    if (e->user && strcmp(e->user, user) == 0) {
      must(ks_index_entries_add(out, e->sid, strlen(e->sid), e->since_ms), "ks_index_entries_add");
      printf(" %s", e->sid);
      n++;
    }
  }
  printf("%s\n", n ? "" : " (none)");
  pthread_mutex_unlock(&rs->mu);
  return KS_STORE_STATUS_OK;
}

static uint32_t rs_index_remove(void *ctx, const char *user, size_t user_len, const char *const *sids, const size_t *sid_lens,
                                size_t count) {
  (void)user_len;
  (void)sid_lens;
  recording_store *rs = ctx;
  pthread_mutex_lock(&rs->mu);
  printf("store index-remove %s", user);
  for (size_t k = 0; k < count; k++) {
    printf(" %s", sids[k]);
    for (int i = 0; i < MAX_INDEX; i++) {
      index_entry *e = &rs->index[i];
      if (e->user && strcmp(e->user, user) == 0 && strcmp(e->sid, sids[k]) == 0) {
        free(e->user);
        free(e->sid);
        e->user = e->sid = NULL;
      }
    }
  }
  printf(" -> ok\n");
  pthread_mutex_unlock(&rs->mu);
  return KS_STORE_STATUS_OK;
}

/* ---- JSON text helpers for the handler's `cookiefield` action. The library prints compact
 * JSON (no spaces), which is all these read. ---- */

static const char *skip_string(const char *p) {
  for (p++; *p && *p != '"'; p++)
    if (*p == '\\' && p[1]) p++;
  return *p ? p + 1 : p;
}

static const char *skip_value(const char *p) {
  if (*p == '"') return skip_string(p);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    do {
      if (*p == '"') {
        p = skip_string(p);
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      if (*p == '}' || *p == ']') depth--;
      p++;
    } while (*p && depth > 0);
    return p;
  }
  while (*p && *p != ',' && *p != '}' && *p != ']') p++;
  return p;
}

/* The JSON object `obj` with member `key` set to the JSON text `value` (replaced where it
 * is, else appended): what `obj[key] = value` does in JavaScript. */
static char *json_put(const char *obj, const char *key, const char *value) {
  size_t klen = strlen(key), olen = strlen(obj);
  char *out = malloc(olen + klen + strlen(value) + 8);
  if (!out) die("out of memory");
  if (olen < 2 || obj[0] != '{' || obj[olen - 1] != '}') die("not a compact JSON object: %s", obj);
  const char *p = obj + 1;
  while (*p == '"') {
    const char *k = p + 1, *kend = skip_string(p) - 1;
    const char *v = kend + 2; /* past `":` */
    const char *vend = skip_value(v);
    if ((size_t)(kend - k) == klen && memcmp(k, key, klen) == 0) {
      sprintf(out, "%.*s%s%s", (int)(v - obj), obj, value, vend);
      return out;
    }
    p = *vend == ',' ? vend + 1 : vend;
  }
  sprintf(out, "%.*s%s\"%s\":%s}", (int)(olen - 1), obj, olen > 2 ? "," : "", key, value);
  return out;
}

/* JavaScript's Date#toISOString for unix milliseconds. */
static void iso_date(long long ms, char *buf, size_t cap) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

/* ---- The runner ---- */

typedef struct {
  ks_config_builder *builder;
  ks_engine *engine;
  ks_store *store_handle;
  recording_store store;
  /* The request being described; it runs at `end`. */
  char *path;
  char *cookie;
  bool https;
  size_t commit_after; /* 0, or the request (from 1) whose answer this one's commit waits for */
  char *actions[MAX_ACTIONS];
  size_t n_actions;
  /* Requests loaded and handled whose commit waits (`commitafter`), in request order. */
  struct waiting {
    ks_session *s;
    size_t n; /* from 0 */
    size_t after;
    bool https;
    int status;
  } waiting[MAX_REQUESTS];
  size_t n_waiting;
  /* An option was refused (`config error`): the rest of the script is not run. */
  bool refused;
  /* The Set-Cookie values each response carried, for `{name@N}` in later Cookie headers. */
  char *sent[MAX_REQUESTS][MAX_COOKIES];
  size_t n_sent[MAX_REQUESTS];
  size_t n_requests;
} runner;

static void print_failure(const char *where, ks_result rc) {
  printf("error %s\n# c ks_result=%u %s\n", where, (unsigned)rc, ks_result_message(rc));
}

/* The value of cookie `name` (`len` bytes) in the Set-Cookie values of response `n` (from 1). */
static void append_sent_value(runner *r, size_t n, const char *name, size_t len, char *out, size_t cap) {
  if (n < 1 || n > r->n_requests) return;
  for (size_t i = 0; i < r->n_sent[n - 1]; i++) {
    const char *c = r->sent[n - 1][i];
    if (strncmp(c, name, len) == 0 && c[len] == '=') {
      size_t have = strlen(out), vlen = strcspn(c + len + 1, ";");
      if (have + vlen + 1 > cap) die("cookie header too long");
      memcpy(out + have, c + len + 1, vlen);
      out[have + vlen] = 0;
      return;
    }
  }
}

/* The Cookie header of a template: `{name@N}` becomes cookie `name` of response N. */
static void resolve_cookie(runner *r, const char *tpl, char *out, size_t cap) {
  out[0] = 0;
  for (const char *p = tpl; *p;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    const char *at = close ? memchr(p, '@', (size_t)(close - p)) : NULL;
    if (at) {
      append_sent_value(r, strtoul(at + 1, NULL, 10), p + 1, (size_t)(at - p - 1), out, cap);
      p = close + 1;
      continue;
    }
    size_t have = strlen(out);
    if (have + 2 > cap) die("cookie header too long");
    out[have] = *p++;
    out[have + 1] = 0;
  }
}

static ks_result read_field(ks_session *s, const char *field) {
  if (strcmp(field, "*") == 0) {
    const char *json;
    size_t len;
    ks_result rc = ks_session_json(s, &json, &len);
    if (rc == KS_RESULT_OK) printf("handler read * = %.*s\n", (int)len, json);
    return rc;
  }
  char buf[TEXT_MAX];
  size_t len;
  ks_result rc = ks_session_get_field(s, field, buf, sizeof buf, &len);
  if (rc == KS_RESULT_NOT_FOUND) {
    printf("handler read %s = (absent)\n", field);
    return KS_RESULT_OK;
  }
  if (rc == KS_RESULT_OK) printf("handler read %s = %s\n", field, buf);
  return rc;
}

/* ctx.session.cookie[name] = value, through the session's `cookie` field. */
static ks_result set_cookie_field(ks_session *s, const char *name, const char *value) {
  char cookie[TEXT_MAX];
  size_t len;
  ks_result rc = ks_session_get_field(s, "cookie", cookie, sizeof cookie, &len);
  if (rc == KS_RESULT_NOT_FOUND) strcpy(cookie, "{}");
  else if (rc != KS_RESULT_OK) return rc;
  char *updated = json_put(cookie, name, value);
  rc = ks_session_set_field(s, "cookie", updated, strlen(updated));
  free(updated);
  return rc;
}

/* ks_store_destroy_user_sessions on the engine's store, between this request's load and its
 * commit: `except` is NULL, "except-current" (this session's id) or "except <sid>". */
static ks_result destroy_user_sessions(const ks_store *store, ks_session *s, const char *user, const char *except) {
  const char *except_sid = NULL;
  if (except && strcmp(except, "except-current") == 0) {
    size_t len;
    ks_result rc = ks_session_id(s, &except_sid, &len);
    if (rc != KS_RESULT_OK) return rc;
  } else if (except && strncmp(except, "except ", 7) == 0) {
    except_sid = except + 7;
  } else if (except) {
    die("destroyusers: unknown argument %s", except);
  }
  uint64_t count = 0;
  ks_result rc = ks_store_destroy_user_sessions(store, user, except_sid, &count);
  if (rc != KS_RESULT_OK) return rc;
  printf("handler destroyUserSessions %s%s%s -> %llu\n", user, except_sid ? " except " : "", except_sid ? except_sid : "",
         (unsigned long long)count);
  return KS_RESULT_OK;
}

/* One handler action: `name` and the rest of its line. */
static ks_result run_action(const ks_store *store, ks_session *s, char *action) {
  char *arg = strchr(action, ' ');
  if (arg) *arg++ = 0;
  char *value = arg ? strchr(arg, ' ') : NULL;
  if (value) *value++ = 0;
  bool needs_arg = strcmp(action, "readid") && strcmp(action, "regenerate") && strcmp(action, "destroy");
  bool needs_value = !strcmp(action, "set") || !strncmp(action, "cookiefield", 11);
  if ((needs_arg && !arg) || (needs_value && !value)) die("action %s is missing its argument", action);
  if (strcmp(action, "read") == 0) return read_field(s, arg);
  if (strcmp(action, "readid") == 0) {
    const char *id;
    size_t len;
    ks_result rc = ks_session_id(s, &id, &len);
    if (rc == KS_RESULT_OK) printf("handler sessionId = %s\n", id);
    return rc;
  }
  if (strcmp(action, "set") == 0) return ks_session_set_field(s, arg, value, strlen(value));
  if (strcmp(action, "remove") == 0) return ks_session_remove_field(s, arg);
  if (strcmp(action, "replace") == 0) {
    if (value) value[-1] = ' '; /* the JSON is the whole rest of the line */
    return ks_session_set_json(s, arg, strlen(arg));
  }
  if (strcmp(action, "cookiefield") == 0) return set_cookie_field(s, arg, value);
  if (strcmp(action, "cookiefield-in") == 0) {
    char iso[64], quoted[72];
    iso_date(now_ms() + strtoll(value, NULL, 10), iso, sizeof iso);
    snprintf(quoted, sizeof quoted, "\"%s\"", iso);
    return set_cookie_field(s, arg, quoted);
  }
  if (strcmp(action, "regenerate") == 0) return ks_session_regenerate(s);
  if (strcmp(action, "destroy") == 0) return ks_session_mark_destroyed(s);
  if (strcmp(action, "destroyusers") == 0) return destroy_user_sessions(store, s, arg, value);
  if (strcmp(action, "save") == 0)
    return ks_session_set_save(s, strcmp(arg, "force") == 0 ? KS_SAVE_MODE_FORCE : KS_SAVE_MODE_SKIP);
  die("unknown action %s", action);
  return KS_RESULT_INTERNAL;
}

static void commit_request(runner *r, ks_session *s, size_t n, bool https, int status);

static void run_request(runner *r) {
  if (r->n_requests == MAX_REQUESTS) die("too many requests");
  size_t n = r->n_requests++;
  char cookie[TEXT_MAX];
  resolve_cookie(r, r->cookie ? r->cookie : "", cookie, sizeof cookie);
  printf("request %zu GET %s%s", n + 1, r->path, r->https ? " https" : "");
  if (cookie[0]) printf(" cookie: %s", cookie);
  printf("\nnow %lld\n", now_ms());

  ks_session *s = NULL;
  size_t clen = strlen(cookie);
  ks_result rc = ks_session_load(r->engine, clen ? (const uint8_t *)cookie : NULL, clen, r->path, &s);
  if (rc != KS_RESULT_OK) {
    print_failure("load", rc);
    commit_request(r, NULL, n, r->https, 500);
    return;
  }
  int status = 200;
  const char *end = "handler returned";
  if (!s) printf("handler no session\n");
  for (size_t i = 0; i < r->n_actions; i++) {
    if (strcmp(r->actions[i], "throw") == 0) {
      end = "handler threw";
      status = 500;
      break;
    }
    if (!s) continue;
    rc = run_action(r->store_handle, s, r->actions[i]);
    if (rc != KS_RESULT_OK) {
      print_failure("handler", rc);
      end = NULL;
      status = 500;
      break;
    }
  }
  if (end) printf("%s\n", end);
  if (r->commit_after) {
    /* Its commit waits until request `commit_after` has answered (commit_request). */
    struct waiting *w = &r->waiting[r->n_waiting++];
    *w = (struct waiting){s, n, r->commit_after, r->https, status};
    return;
  }
  commit_request(r, s, n, r->https, status);
}

/* The end of request `n` (from 0): the commit, its Set-Cookie values and status; then the
 * requests that waited for this one's answer commit, in request order. */
static void commit_request(runner *r, ks_session *s, size_t n, bool https, int status) {
  if (s) {
    ks_set_cookies *cookies = NULL;
    ks_result rc = ks_session_commit(s, !https, &cookies);
    if (rc != KS_RESULT_OK) {
      print_failure("commit", rc);
      status = 500;
    }
    size_t count = ks_set_cookies_count(cookies);
    if (count > MAX_COOKIES) die("too many Set-Cookie values");
    for (size_t i = 0; i < count; i++) {
      const char *v;
      size_t len;
      must(ks_set_cookies_get(cookies, i, &v, &len), "ks_set_cookies_get");
      printf("set-cookie %s\n", v);
      r->sent[n][r->n_sent[n]++] = dup_str(v);
    }
    ks_set_cookies_free(cookies);
    ks_session_free(s);
  }
  printf("status %d\n", status);
  for (size_t i = 0; i < r->n_waiting;) {
    struct waiting w = r->waiting[i];
    if (w.after != n + 1) {
      i++;
      continue;
    }
    memmove(&r->waiting[i], &r->waiting[i + 1], (r->n_waiting - i - 1) * sizeof w);
    r->n_waiting--;
    printf("resume request %zu\n", w.n + 1);
    commit_request(r, w.s, w.n, w.https, w.status);
    i = 0; /* the list changed under us */
  }
}

static void end_request(runner *r) {
  r->store.fail_get = r->store.fail_set = r->store.fail_destroy = false;
  r->store.fail_cas = r->store.fail_index_add = false;
  free(r->path);
  free(r->cookie);
  r->path = r->cookie = NULL;
  r->https = false;
  r->commit_after = 0;
  for (size_t i = 0; i < r->n_actions; i++) free(r->actions[i]);
  r->n_actions = 0;
}

static uint32_t same_site(const char *v) {
  if (strcmp(v, "strict") == 0) return KS_SAME_SITE_STRICT;
  if (strcmp(v, "lax") == 0) return KS_SAME_SITE_LAX;
  if (strcmp(v, "none") == 0) return KS_SAME_SITE_NONE;
  die("unknown samesite %s", v);
  return 0;
}

/* An option the library refused: `config error <option>`, the option as
 * ks_last_error_message names it (`option "idleTimeout": ...`), and the rest of the script
 * is not run. */
static void refuse(runner *r, ks_result rc) {
  char msg[1024];
  size_t len = 0;
  if (ks_last_error_message(msg, sizeof msg, &len) != KS_RESULT_OK) msg[0] = 0;
  const char *name = strstr(msg, "option \"");
  const char *close = name ? strchr(name + 8, '"') : NULL;
  if (close) printf("config error %.*s\n", (int)(close - name - 8), name + 8);
  else printf("config error (unnamed)\n");
  printf("# c ks_result=%u %s\n", (unsigned)rc, msg);
  r->refused = true;
}

/* A setter that may refuse its value (the lifetime options): a refusal is part of the trace. */
static void may_refuse(runner *r, ks_result rc) {
  if (rc != KS_RESULT_OK) refuse(r, rc);
}

static void config(runner *r, char *setting) {
  char *v = strchr(setting, ' ');
  if (v) *v++ = 0;
  ks_config_builder *b = r->builder;
  unsigned long long ms = v ? strtoull(v, NULL, 10) : 0;
  if (strcmp(setting, "key") == 0) must(ks_config_builder_set_cookie_name(b, v), "cookie name");
  else if (strcmp(setting, "addkey") == 0) must(ks_config_builder_add_key(b, (const uint8_t *)v, strlen(v)), "add key");
  else if (strcmp(setting, "path") == 0) must(ks_config_builder_set_path(b, v), "path");
  else if (strcmp(setting, "nopath") == 0) must(ks_config_builder_set_path(b, NULL), "path");
  else if (strcmp(setting, "domain") == 0) must(ks_config_builder_set_domain(b, v), "domain");
  else if (strcmp(setting, "maxage") == 0) must(ks_config_builder_set_max_age_ms(b, strtoll(v, NULL, 10)), "max age");
  else if (strcmp(setting, "httponly") == 0) must(ks_config_builder_set_http_only(b, atoi(v) != 0), "httponly");
  else if (strcmp(setting, "secure") == 0) must(ks_config_builder_set_secure(b, atoi(v) != 0), "secure");
  else if (strcmp(setting, "samesite") == 0) must(ks_config_builder_set_same_site(b, same_site(v)), "samesite");
  else if (strcmp(setting, "rolling") == 0) must(ks_config_builder_set_rolling(b, atoi(v) != 0), "rolling");
  else if (strcmp(setting, "allowempty") == 0) must(ks_config_builder_set_allow_empty(b, atoi(v) != 0), "allow empty");
  else if (strcmp(setting, "userfield") == 0) must(ks_config_builder_set_user_field(b, v), "user field");
  else if (strcmp(setting, "idletimeout") == 0) may_refuse(r, ks_config_builder_set_idle_timeout_ms(b, ms));
  else if (strcmp(setting, "absolutetimeout") == 0) may_refuse(r, ks_config_builder_set_absolute_timeout_ms(b, ms));
  else if (strcmp(setting, "renewinterval") == 0) may_refuse(r, ks_config_builder_set_renew_interval_ms(b, ms));
  else if (strcmp(setting, "renewgrace") == 0) may_refuse(r, ks_config_builder_set_renew_grace_ms(b, ms));
  else if (strcmp(setting, "clock") == 0) must(ks_config_builder_set_clock(b, scenario_clock, NULL), "clock");
  else die("unknown config %s", setting);
}

int main(void) {
  static runner r;
  pthread_mutex_init(&r.store.mu, NULL);
  r.builder = ks_config_builder_new();
  if (!r.builder) die("ks_config_builder_new failed");
  ks_store_vtable vt = {&r.store, rs_get, rs_set, rs_destroy, NULL};
  ks_store *store = NULL;
  must(ks_c_store_new(&vt, NULL, &store), "ks_c_store_new");
  r.store_handle = store;

  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  while ((got = getline(&line, &cap, stdin)) > 0) {
    if (line[got - 1] == '\n') line[got - 1] = 0;
    char *rest = strchr(line, ' ');
    if (rest) *rest++ = 0;
    if (r.refused) continue; /* an option was refused: nothing more runs */
    if (strcmp(line, "config") == 0) config(&r, rest);
    else if (strcmp(line, "engine") == 0) {
      ks_result rc = ks_engine_new(r.builder, store, &r.engine);
      if (rc != KS_RESULT_OK) refuse(&r, rc);
    } else if (strcmp(line, "clock") == 0) atomic_store(&scenario_now, strtoll(rest, NULL, 10));
    else if (strcmp(line, "commitafter") == 0) r.commit_after = strtoul(rest, NULL, 10);
    else if (strcmp(line, "cas") == 0) must(ks_c_store_set_compare_and_set(store, rs_compare_and_set), "ks_c_store_set_compare_and_set");
    else if (strcmp(line, "userindex") == 0) {
      must(ks_c_store_set_compare_and_set(store, rs_compare_and_set), "ks_c_store_set_compare_and_set");
      must(ks_c_store_set_user_index(store, rs_index_add, rs_index_entries, rs_index_remove), "ks_c_store_set_user_index");
    }
    else if (strcmp(line, "put") == 0) {
      char *raw = strchr(rest, ' ');
      if (!raw) die("put needs a sid and a record");
      *raw++ = 0;
      put(&r.store, rest, raw);
    } else if (strcmp(line, "request") == 0) r.path = dup_str(rest);
    else if (strcmp(line, "https") == 0) r.https = true;
    else if (strcmp(line, "cookie") == 0) r.cookie = dup_str(rest);
    else if (strcmp(line, "fail") == 0) {
      if (strcmp(rest, "get") == 0) r.store.fail_get = true;
      else if (strcmp(rest, "set") == 0) r.store.fail_set = true;
      else if (strcmp(rest, "destroy") == 0) r.store.fail_destroy = true;
      else if (strcmp(rest, "cas") == 0) r.store.fail_cas = true;
      else if (strcmp(rest, "index-add") == 0) r.store.fail_index_add = true;
      else die("unknown fault %s", rest);
    } else if (strcmp(line, "end") == 0) {
      if (!r.engine || !r.path) die("end without engine or request");
      run_request(&r);
      end_request(&r);
    } else {
      /* Everything else is a handler action of the request being described. */
      if (r.n_actions == MAX_ACTIONS) die("too many actions");
      if (rest) rest[-1] = ' ';
      r.actions[r.n_actions++] = dup_str(line);
    }
    fflush(stdout);
  }
  free(line);
  if (r.n_waiting) die("a request still waits for its commit");

  ks_engine_free(r.engine);
  ks_store_free(store);
  ks_config_builder_free(r.builder);
  for (size_t i = 0; i < r.n_requests; i++)
    for (size_t j = 0; j < r.n_sent[i]; j++) free(r.sent[i][j]);
  for (int i = 0; i < MAX_RECORDS; i++) {
    free(r.store.records[i].key);
    free(r.store.records[i].json);
  }
  for (int i = 0; i < MAX_INDEX; i++) {
    free(r.store.index[i].user);
    free(r.store.index[i].sid);
  }
  must(ks_runtime_shutdown(), "ks_runtime_shutdown");
  return 0;
}
