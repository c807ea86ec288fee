/* A small HTTP server on libmicrohttpd that keeps Koa-compatible sessions with
 * libkoa_session: a visit counter, a login that regenerates the session, and a logout that
 * destroys it. Sessions live in the memory store, or in Redis with --redis, where a Koa app
 * using the same Redis, prefix, cookie name and keys shares them; every server thread shares
 * one engine.
 *
 *   c-server [--port N] [--keys KEY1,KEY2,...] [--max-age-ms MS] [--same-site strict|lax|none]
 *            [--redis URL [--redis-prefix PREFIX]]
 *   env: KS_PORT, KS_KEYS, KS_MAX_AGE_MS, KS_SAME_SITE, KS_REDIS_URL, KS_REDIS_PREFIX (the
 *   options win). Port 0 picks a free port. It listens on 127.0.0.1 only and prints "listening on http://127.0.0.1:PORT"
 *   once ready. URL: redis://[user:password@]host[:port][/db], rediss://... or
 *   unix:///path/to/redis.sock; the prefix defaults to koa-generic-session's "koa:sess:".
 *
 *   GET  /                 counts this visitor's visits
 *   GET  /whoami           shows the session without changing it
 *   POST /login?user=NAME  starts a fresh session (new id) for NAME (letters, digits, - _)
 *   POST /logout           destroys the session and clears its cookies
 */
#include "koa_session.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

static const ks_engine *engine;

/* Sends `body` with `status` and the Set-Cookie values (when there are any), with the cache
 * headers that keep a shared cache from handing them to another visitor. */
static mhd_result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                          const ks_set_cookies *cookies) {
  struct MHD_Response *res =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!res) return MHD_NO;
  MHD_add_response_header(res, "Content-Type", "text/plain; charset=utf-8");
  for (size_t i = 0; cookies && i < ks_set_cookies_count(cookies); i++) {
    const char *value;
    size_t len;
    if (ks_set_cookies_get(cookies, i, &value, &len) == KS_RESULT_OK)
      MHD_add_response_header(res, "Set-Cookie", value);
  }
  if (ks_set_cookies_count(cookies) > 0) {
    /* This server sets no Cache-Control or Vary of its own: NULL, NULL (a server that does
     * passes its values, and replaces its Vary with the one returned). */
    const char *cache_control = NULL;
    char vary[16];
    size_t vary_len;
    if (ks_cache_headers(NULL, NULL, &cache_control, vary, sizeof vary, &vary_len) == KS_RESULT_OK) {
      if (cache_control) MHD_add_response_header(res, "Cache-Control", cache_control);
      if (vary_len > 0) MHD_add_response_header(res, "Vary", vary);
    }
  }
  mhd_result ret = MHD_queue_response(conn, status, res);
  MHD_destroy_response(res);
  return ret;
}

/* The calling thread's last failure in detail (e.g. the store's own message). */
static const char *failure_detail(ks_result rc, char *buf, size_t cap) {
  size_t len;
  if (ks_last_error_message(buf, cap, &len) != KS_RESULT_OK || len == 0) snprintf(buf, cap, "%s", ks_result_message(rc));
  return buf;
}

/* The client gets the code's text; the log also gets the detail (it may name internal
 * addresses). */
static mhd_result fail(struct MHD_Connection *conn, const char *what, ks_result rc) {
  char body[256], detail[512];
  failure_detail(rc, detail, sizeof detail);
  snprintf(body, sizeof body, "session error in %s: %s\n", what, ks_result_message(rc));
  fprintf(stderr, "session error in %s: %s\n", what, detail);
  return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, body, NULL);
}

/* The value of a string field without its JSON quotes (names are restricted to characters
 * that need no escaping), or `fallback`. */
static void string_field(const ks_session *s, const char *key, char *out, size_t cap, const char *fallback) {
  size_t len;
  if (ks_session_get_field(s, key, out, cap, &len) == KS_RESULT_OK && len >= 2 && out[0] == '"') {
    memmove(out, out + 1, len - 2);
    out[len - 2] = '\0';
  } else {
    snprintf(out, cap, "%s", fallback);
  }
}

static long number_field(const ks_session *s, const char *key) {
  char buf[32];
  size_t len;
  if (ks_session_get_field(s, key, buf, sizeof buf, &len) != KS_RESULT_OK) return 0;
  return strtol(buf, NULL, 10);
}

static int valid_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 32) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                         const char *version, const char *upload_data, size_t *upload_data_size,
                         void **req_state) {
  (void)cls, (void)version, (void)upload_data;
  /* libmicrohttpd calls once for the headers, then for any body: answer on the last call. */
  static int started;
  if (*req_state == NULL) {
    *req_state = &started;
    return MHD_YES;
  }
  if (*upload_data_size) {
    *upload_data_size = 0; /* bodies are ignored */
    return MHD_YES;
  }
  int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
  int route_visit = strcmp(url, "/") == 0, route_whoami = strcmp(url, "/whoami") == 0;
  int route_login = strcmp(url, "/login") == 0, route_logout = strcmp(url, "/logout") == 0;
  if (!(route_visit || route_whoami || route_login || route_logout))
    return respond(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
  if (((route_visit || route_whoami) && !is_get) || ((route_login || route_logout) && !is_post))
    return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", NULL);
  const char *user_arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "user");
  if (route_login && !valid_name(user_arg))
    return respond(conn, MHD_HTTP_BAD_REQUEST, "user must be 1-32 letters, digits, '-' or '_'\n", NULL);

  const char *cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
  ks_session *session = NULL;
  ks_result rc = ks_session_load(engine, (const uint8_t *)cookie, cookie ? strlen(cookie) : 0, url, &session);
  if (rc != KS_RESULT_OK) return fail(conn, "load", rc);
  if (session == NULL) return respond(conn, MHD_HTTP_OK, "no session here\n", NULL);
  if (ks_session_load_report(session) == KS_LOAD_REPORT_CORRUPT)
    fprintf(stderr, "warning: a corrupt session record was replaced\n");

  char body[256], user[64];
  if (route_visit) {
    long views = number_field(session, "views") + 1;
    char value[32];
    int n = snprintf(value, sizeof value, "%ld", views);
    rc = ks_session_set_field(session, "views", value, (size_t)n);
    string_field(session, "user", user, sizeof user, "anonymous");
    snprintf(body, sizeof body, "views: %ld\nuser: %s\n", views, user);
  } else if (route_whoami) {
    string_field(session, "user", user, sizeof user, "anonymous");
    snprintf(body, sizeof body, "views: %ld\nuser: %s\n", number_field(session, "views"), user);
  } else if (route_login) {
    /* A new id at login, so an id planted before login is worth nothing after it. */
    rc = ks_session_regenerate(session);
    if (rc == KS_RESULT_OK) {
      char value[40];
      int n = snprintf(value, sizeof value, "\"%s\"", user_arg);
      rc = ks_session_set_field(session, "user", value, (size_t)n);
    }
    snprintf(body, sizeof body, "logged in as %s\n", user_arg);
  } else {
    rc = ks_session_mark_destroyed(session);
    snprintf(body, sizeof body, "logged out\n");
  }
  if (rc != KS_RESULT_OK) {
    ks_session_free(session);
    return fail(conn, url, rc);
  }
  ks_set_cookies *cookies = NULL;
  rc = ks_session_commit(session, true, &cookies);
  ks_session_free(session);
  if (rc != KS_RESULT_OK) return fail(conn, "commit", rc);
  mhd_result ret = respond(conn, MHD_HTTP_OK, body, cookies);
  ks_set_cookies_free(cookies);
  return ret;
}

static const char *option(int argc, char **argv, const char *name, const char *env) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return getenv(env);
}

/* Cookie settings; to share sessions with a Koa app, give both the same keys and cookie
 * options (the Koa example uses maxAge 30 min and sameSite lax). */
static int configure(ks_config_builder *b, const char *keys, const char *max_age_ms, const char *same_site) {
  if (max_age_ms) {
    char *end = NULL;
    long long ms = strtoll(max_age_ms, &end, 10);
    if (!*max_age_ms || *end || ks_config_builder_set_max_age_ms(b, ms) != KS_RESULT_OK) {
      fprintf(stderr, "invalid max age: %s\n", max_age_ms);
      return 0;
    }
  }
  if (same_site) {
    ks_same_site v = strcmp(same_site, "strict") == 0 ? KS_SAME_SITE_STRICT
                     : strcmp(same_site, "lax") == 0  ? KS_SAME_SITE_LAX
                     : strcmp(same_site, "none") == 0 ? KS_SAME_SITE_NONE
                                                      : KS_SAME_SITE_UNSET;
    if (v == KS_SAME_SITE_UNSET || ks_config_builder_set_same_site(b, v) != KS_RESULT_OK) {
      fprintf(stderr, "invalid same-site value: %s (strict, lax or none)\n", same_site);
      return 0;
    }
  }
  if (!keys || !*keys) {
    fprintf(stderr, "warning: no --keys / KS_KEYS given: session cookies are not signed\n");
    return 1;
  }
  char *copy = strdup(keys), *save = NULL;
  if (!copy) return 0;
  int ok = 1;
  for (char *k = strtok_r(copy, ",", &save); k && ok; k = strtok_r(NULL, ",", &save))
    ok = ks_config_builder_add_key(b, (const uint8_t *)k, strlen(k)) == KS_RESULT_OK;
  free(copy);
  return ok;
}

/* The memory store, or a Redis store when a URL is given. Redis is connected in the
 * background: the server starts even while Redis is away, and requests get a store error
 * (HTTP 500) until it answers. */
static ks_result make_store(const char *redis_url, const char *redis_prefix, ks_store **store) {
  if (!redis_url || !*redis_url) {
    if (redis_prefix) fprintf(stderr, "warning: --redis-prefix has no effect without --redis\n");
    return ks_memory_store_new(0, store);
  }
  ks_result rc = ks_redis_store_new(redis_url, redis_prefix, 0, 0, store);
  if (rc == KS_RESULT_OK)
    fprintf(stderr, "sessions in Redis (key prefix \"%s\")\n", redis_prefix ? redis_prefix : "koa:sess:");
  return rc;
}

int main(int argc, char **argv) {
  static const char *const known[] = {"--port", "--keys", "--max-age-ms", "--same-site", "--redis", "--redis-prefix"};
  for (int i = 1; i < argc; i += 2) {
    int ok = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok |= strcmp(argv[i], known[k]) == 0;
    if (!ok || i + 1 >= argc) {
      fprintf(stderr,
              "usage: %s [--port N] [--keys KEY1,KEY2,...] [--max-age-ms MS] [--same-site strict|lax|none]\n"
              "          [--redis URL [--redis-prefix PREFIX]]\n",
              argv[0]);
      return 2;
    }
  }
  const char *port_s = option(argc, argv, "--port", "KS_PORT");
  char *end = NULL;
  long port = port_s ? strtol(port_s, &end, 10) : 8080;
  if ((port_s && *end) || port < 0 || port > 65535) {
    fprintf(stderr, "invalid port: %s\n", port_s);
    return 2;
  }

  ks_config_builder *config = ks_config_builder_new();
  ks_store *store = NULL;
  ks_engine *e = NULL;
  ks_result rc = KS_RESULT_INVALID_ARGUMENT;
  if (config &&
      configure(config, option(argc, argv, "--keys", "KS_KEYS"), option(argc, argv, "--max-age-ms", "KS_MAX_AGE_MS"),
                option(argc, argv, "--same-site", "KS_SAME_SITE")) &&
      (rc = make_store(option(argc, argv, "--redis", "KS_REDIS_URL"),
                       option(argc, argv, "--redis-prefix", "KS_REDIS_PREFIX"), &store)) == KS_RESULT_OK)
    rc = ks_engine_new(config, store, &e);
  ks_config_builder_free(config);
  ks_store_free(store); /* the engine holds its own reference */
  if (rc != KS_RESULT_OK) {
    char detail[512];
    fprintf(stderr, "cannot set up sessions: %s\n", failure_detail(rc, detail, sizeof detail));
    return 1;
  }
  engine = e;

  /* Block the stop signals before any thread starts, so only sigwait below receives them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
      MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "cannot listen on 127.0.0.1:%ld\n", port);
    ks_engine_free(e);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("listening on http://127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)port);
  fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d);
  ks_engine_free(e);
  ks_runtime_shutdown();
  fprintf(stderr, "stopped (signal %d)\n", sig);
  return 0;
}
