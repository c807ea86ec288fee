/* Small helpers shared by the C tests: checks that stop the test with a message, and the
 * browser side of cookies (turning Set-Cookie values into the next request's Cookie header). */
#ifndef KS_TEST_CHECK_H
#define KS_TEST_CHECK_H

#include "koa_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* Expects a ks_result; prints both codes and the message on a mismatch. */
#define CHECK_RC(expected, call)                                                     \
  do {                                                                               \
    ks_result rc_ = (call);                                                          \
    if (rc_ != (ks_result)(expected)) {                                              \
      fprintf(stderr, "%s:%d: %s returned %u (%s), expected %u\n", __FILE__,         \
              __LINE__, #call, (unsigned)rc_, ks_result_message(rc_),                \
              (unsigned)(expected));                                                 \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

#define CHECK_OK(call) CHECK_RC(KS_RESULT_OK, call)

#define CHECK_STR(actual, expected)                                                  \
  do {                                                                               \
    const char *a_ = (actual), *e_ = (expected);                                     \
    if (strcmp(a_, e_) != 0) {                                                       \
      fprintf(stderr, "%s:%d: got \"%s\", expected \"%s\"\n", __FILE__, __LINE__,     \
              a_, e_);                                                               \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* The calling thread's last-error text (ks_last_error_message) in `buf`; returns `buf`. */
static inline const char *last_error(char *buf, size_t cap) {
  size_t len = 0;
  CHECK_OK(ks_last_error_message(buf, cap, &len));
  CHECK(len == strlen(buf));
  return buf;
}

/* A browser's cookie jar for one cookie name pair: the Cookie header it would send. */
typedef struct {
  char header[1024];
} jar;

/* Loads the session the jar's cookies name, for path "/"; every test request starts here. */
static inline ks_session *jar_load(const ks_engine *e, const jar *j) {
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, (const uint8_t *)j->header, strlen(j->header), "/", &s));
  CHECK(s != NULL);
  return s;
}

/* Applies Set-Cookie values to the jar: "name=value; attrs" sets name=value, an empty value
 * (the clearing form) removes the cookie. */
static inline void jar_apply(jar *j, const ks_set_cookies *cookies) {
  for (size_t i = 0; i < ks_set_cookies_count(cookies); i++) {
    const char *v;
    size_t len;
    CHECK_OK(ks_set_cookies_get(cookies, i, &v, &len));
    CHECK(strlen(v) == len);
    size_t pair_len = strcspn(v, ";");
    const char *eq = memchr(v, '=', pair_len);
    CHECK(eq != NULL);
    size_t name_len = (size_t)(eq - v);
    /* Rebuild the header without this name, then add it back unless it is being cleared. */
    char rebuilt[1024] = "";
    char *save = NULL;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", j->header);
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
      while (*tok == ' ') tok++;
      if (strncmp(tok, v, name_len + 1) == 0) continue; /* same "name=" */
      if (*rebuilt) strcat(rebuilt, "; ");
      strcat(rebuilt, tok);
    }
    if (pair_len > name_len + 1) {
      if (*rebuilt) strcat(rebuilt, "; ");
      strncat(rebuilt, v, pair_len);
    }
    CHECK(strlen(rebuilt) < sizeof j->header);
    memcpy(j->header, rebuilt, strlen(rebuilt) + 1);
  }
}

/* Finds the Set-Cookie value for cookie `name` ("name=" prefix); NULL when absent. */
static inline const char *set_cookie_for(const ks_set_cookies *cookies, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < ks_set_cookies_count(cookies); i++) {
    const char *v;
    size_t len;
    CHECK_OK(ks_set_cookies_get(cookies, i, &v, &len));
    if (strncmp(v, name, n) == 0 && v[n] == '=') return v;
  }
  return NULL;
}

/* How many requests a stress loop runs: the full count, unless KS_TEST_SCALE_DOWN is set
 * (the sanitizer and valgrind runs set it, where each request is ~50x slower). */
static inline long test_count(long full, long scaled) {
  const char *s = getenv("KS_TEST_SCALE_DOWN");
  return (s && *s && strcmp(s, "0") != 0) ? scaled : full;
}

#endif
