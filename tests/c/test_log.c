/* ks_config_builder_set_log: the engine says why it decided what it did (a refused cookie, an
 * unsaved session, a save), with a level, and never logs session data or any part of an id. */
#include "check.h"

typedef struct {
  char text[8192];
  int warnings;
  int lines;
} log_book;

static void on_log(void *userdata, ks_log_level level, const char *message, size_t len) {
  log_book *book = userdata;
  CHECK(strlen(message) == len);
  if (level == KS_LOG_LEVEL_WARN) book->warnings++;
  book->lines++;
  strncat(book->text, message, sizeof book->text - strlen(book->text) - 2);
  strcat(book->text, "\n");
}

static void request(const ks_engine *e, const char *cookie, const char *set_field, char *sid_out) {
  ks_session *s = NULL;
  CHECK_OK(ks_session_load(e, (const uint8_t *)cookie, strlen(cookie), "/", &s));
  if (set_field) CHECK_OK(ks_session_set_field(s, "secret", set_field, strlen(set_field)));
  if (sid_out) {
    const char *sid = NULL;
    size_t len = 0;
    CHECK_OK(ks_session_id(s, &sid, &len));
    memcpy(sid_out, sid, len);
    sid_out[len] = 0;
  }
  ks_set_cookies *c = NULL;
  CHECK_OK(ks_session_commit(s, false, &c));
  ks_set_cookies_free(c);
  ks_session_free(s);
}

int main(void) {
  log_book book = {0};
  ks_config_builder *b = ks_config_builder_new();
  CHECK_OK(ks_config_builder_add_key(b, (const uint8_t *)"k1", 2));
  CHECK_RC(KS_RESULT_NULL_PARAMETER, ks_config_builder_set_log(NULL, on_log, &book));
  CHECK_OK(ks_config_builder_set_log(b, on_log, &book));
  ks_store *store = NULL;
  CHECK_OK(ks_memory_store_new(0, &store));
  ks_engine *e = NULL;
  CHECK_OK(ks_engine_new(b, store, &e));

  char sid[300];
  request(e, "", "\"top-secret-value\"", sid);
  CHECK(strstr(book.text, "no session cookie") != NULL);
  CHECK(strstr(book.text, "saved: a new session that holds data") != NULL);
  CHECK(strstr(book.text, "store: session written whole") != NULL);

  char cookie[400];
  snprintf(cookie, sizeof cookie, "koa.sid=%s; koa.sid.sig=forged", sid);
  request(e, cookie, NULL, NULL);
  CHECK(strstr(book.text, "session cookie refused: bad signature") != NULL);
  CHECK(strstr(book.text, "not saved: a new session with nothing in it") != NULL);
  CHECK(book.warnings == 1);

  CHECK(strstr(book.text, "top-secret-value") == NULL);
  CHECK(strstr(book.text, sid) == NULL);
  /* Ids appear only as tags (a keyed hash), not even as a prefix of the id. */
  char prefix[7];
  memcpy(prefix, sid, 6);
  prefix[6] = 0;
  CHECK(strstr(book.text, prefix) == NULL);
  CHECK(strstr(book.text, "(session #") != NULL);

  /* Off again: nothing more is heard. */
  int lines = book.lines;
  CHECK_OK(ks_config_builder_set_log(b, NULL, NULL));
  ks_engine *quiet = NULL;
  CHECK_OK(ks_engine_new(b, store, &quiet));
  request(quiet, "", "1", NULL);
  CHECK(book.lines == lines);

  ks_engine_free(quiet);
  ks_engine_free(e);
  ks_store_free(store);
  ks_config_builder_free(b);
  /* The runtime's threads go too, so valgrind sees no thread as possibly lost. */
  CHECK_OK(ks_runtime_shutdown());
  puts("test_log: ok");
  return 0;
}
