/* The option rules through the C setters: the same checks a Koa app gets (core's
 * options.rs), the existing result codes, and ks_last_error_message() naming the option. */
#include "check.h"

#include <stdint.h>

/* `rc` came back and the thread's last error names `option` and contains `phrase`. */
static void refused_with(ks_result rc, ks_result expected, const char *option, const char *phrase) {
  char buf[512];
  char named[128];
  CHECK(rc == expected);
  last_error(buf, sizeof buf);
  snprintf(named, sizeof named, "option \"%s\": ", option);
  if (strncmp(buf, named, strlen(named)) != 0 || strstr(buf, phrase) == NULL) {
    fprintf(stderr, "last error %s\n  wanted it to start with %s and contain %s\n", buf, named, phrase);
    CHECK(0);
  }
}

static void test_each_setter_names_its_option(void) {
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  refused_with(ks_config_builder_set_cookie_name(b, "a b"), KS_RESULT_INVALID_COOKIE_NAME, "key", "a space is not allowed");
  refused_with(ks_config_builder_set_cookie_name(b, ""), KS_RESULT_INVALID_COOKIE_NAME, "key", "it is empty");
  refused_with(ks_config_builder_set_path(b, "app"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.path",
               "must start with '/'");
  refused_with(ks_config_builder_set_path(b, "/a;b"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.path",
               "';' is not allowed");
  refused_with(ks_config_builder_set_path(b, "/a\nb"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.path",
               "control character");
  refused_with(ks_config_builder_set_domain(b, "a b"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.domain",
               "a space is not allowed");
  refused_with(ks_config_builder_set_domain(b, "a..example"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE,
               "cookieOptions.domain", "empty label");
  refused_with(ks_config_builder_set_domain(b, "example.com."), KS_RESULT_INVALID_COOKIE_ATTRIBUTE,
               "cookieOptions.domain", "empty label");
  refused_with(ks_config_builder_set_domain(b, "x.com;secure"), KS_RESULT_INVALID_COOKIE_ATTRIBUTE,
               "cookieOptions.domain", "';' is not allowed");
  refused_with(ks_config_builder_set_max_age_ms(b, -5), KS_RESULT_INVALID_ARGUMENT, "cookieOptions.maxAge",
               "must not be negative, got -5");
  refused_with(ks_config_builder_set_expires_ms(b, -1), KS_RESULT_INVALID_ARGUMENT, "cookieOptions.expires",
               "after 1970");
  refused_with(ks_config_builder_set_same_site(b, 7), KS_RESULT_INVALID_ARGUMENT, "cookieOptions.sameSite",
               "7 is not a ks_same_site value");
  refused_with(ks_config_builder_set_priority(b, 9), KS_RESULT_INVALID_ARGUMENT, "cookieOptions.priority",
               "9 is not a ks_priority value");
  refused_with(ks_config_builder_add_key(b, (const uint8_t *)"", 0), KS_RESULT_INVALID_ARGUMENT, "keys",
               "a signing key is empty");
  refused_with(ks_config_builder_set_default_ttl_ms(b, 0), KS_RESULT_INVALID_ARGUMENT, "defaultSessionTtl",
               "must be positive");
  /* Accepted: a leading-dot domain, an IPv4 address, no path, 0 (browser-session cookie). */
  CHECK_OK(ks_config_builder_set_domain(b, ".example.com"));
  CHECK_OK(ks_config_builder_set_domain(b, "127.0.0.1"));
  CHECK_OK(ks_config_builder_set_path(b, NULL));
  CHECK_OK(ks_config_builder_set_max_age_ms(b, 0));
  CHECK_OK(ks_config_builder_validate(b));
  ks_config_builder_free(b);
  printf("each setter names its option: ok\n");
}

/* SameSite=None without Secure: the setters accept each value (the order they are called in
 * must not matter), validate and ks_engine_new refuse the combination. */
static void test_same_site_none_needs_secure(void) {
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_config_builder *b = ks_config_builder_new();
  CHECK(b != NULL);
  CHECK_OK(ks_config_builder_set_same_site(b, KS_SAME_SITE_NONE));
  refused_with(ks_config_builder_validate(b), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.sameSite",
               "'none' needs secure");
  ks_engine *e = NULL;
  refused_with(ks_engine_new(b, store, &e), KS_RESULT_INVALID_COOKIE_ATTRIBUTE, "cookieOptions.sameSite",
               "browsers drop a SameSite=None cookie that is not Secure");
  CHECK(e == NULL);
  CHECK_OK(ks_config_builder_set_secure(b, true));
  CHECK_OK(ks_config_builder_validate(b));
  CHECK_OK(ks_engine_new(b, store, &e));

  /* Over TLS the cookie goes out with both attributes. */
  jar j = {""};
  ks_session *s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "a", "1", 1));
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, false, &c));
  const char *v = set_cookie_for(c, "koa.sid");
  CHECK(v != NULL && strstr(v, "; samesite=none; secure; httponly") != NULL);
  ks_set_cookies_free(c);
  ks_session_free(s);

  /* Over plain HTTP the secure cookie is refused, and the message says which option and how
   * to fix it. */
  s = jar_load(e, &j);
  CHECK_OK(ks_session_set_field(s, "a", "2", 1));
  c = NULL;
  CHECK_RC(KS_RESULT_SECURE_COOKIE_OVER_HTTP, ks_session_commit(s, true, &c));
  CHECK(c == NULL);
  char buf[512];
  last_error(buf, sizeof buf);
  CHECK(strncmp(buf, "Cannot send secure cookie over unencrypted connection: ", 55) == 0);
  CHECK(strstr(buf, "cookieOptions.secure") != NULL);
  CHECK(strstr(buf, "commit with plain_http false") != NULL);
  ks_session_free(s);

  /* The other order: secure first, then SameSite=None. */
  ks_config_builder *b2 = ks_config_builder_new();
  CHECK(b2 != NULL);
  CHECK_OK(ks_config_builder_set_secure(b2, true));
  CHECK_OK(ks_config_builder_set_same_site(b2, KS_SAME_SITE_NONE));
  CHECK_OK(ks_config_builder_validate(b2));
  CHECK_OK(ks_config_builder_set_secure(b2, false));
  CHECK_RC(KS_RESULT_INVALID_COOKIE_ATTRIBUTE, ks_config_builder_validate(b2));
  ks_config_builder_free(b2);

  ks_engine_free(e);
  ks_config_builder_free(b);
  ks_store_free(store);
  printf("SameSite=None needs Secure: ok\n");
}

int main(void) {
  test_each_setter_names_its_option();
  test_same_site_none_needs_secure();
  /* The runtime's threads go before exit, so valgrind sees no leak. */
  CHECK_OK(ks_runtime_shutdown());
  printf("test_options: all passed\n");
  return 0;
}
