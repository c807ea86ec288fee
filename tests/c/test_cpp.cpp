// The header from C++17: RAII ownership with unique_ptr, typed enums, strings, and an
// asynchronous load completed through a std::promise.
#include "koa_session.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

namespace {

struct Free {
  void operator()(ks_config_builder *p) const { ks_config_builder_free(p); }
  void operator()(ks_store *p) const { ks_store_free(p); }
  void operator()(ks_engine *p) const { ks_engine_free(p); }
  void operator()(ks_session *p) const { ks_session_free(p); }
  void operator()(ks_set_cookies *p) const { ks_set_cookies_free(p); }
};
template <class T> using Owned = std::unique_ptr<T, Free>;

void ok(ks_result r) {
  if (r != KS_RESULT_OK) {
    std::fprintf(stderr, "ks error %u: %s\n", unsigned(r), ks_result_message(r));
    std::exit(1);
  }
}

std::vector<std::string> set_cookies(const ks_set_cookies *c) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ks_set_cookies_count(c); i++) {
    const char *v = nullptr;
    size_t len = 0;
    ok(ks_set_cookies_get(c, i, &v, &len));
    out.emplace_back(v, len);
  }
  return out;
}

std::string cookie_header(const std::vector<std::string> &values) {
  std::string h;
  for (const auto &v : values) {
    if (!h.empty()) h += "; ";
    h += v.substr(0, v.find(';'));
  }
  return h;
}

}  // namespace

int main() {
  Owned<ks_config_builder> config(ks_config_builder_new());
  const std::string key = "c++ key";
  ok(ks_config_builder_add_key(config.get(), reinterpret_cast<const uint8_t *>(key.data()), key.size()));
  ok(ks_config_builder_set_same_site(config.get(), KS_SAME_SITE_LAX));
  ks_store *raw_store = nullptr;
  ok(ks_memory_store_new(0, &raw_store));
  Owned<ks_store> store(raw_store);
  ks_engine *raw_engine = nullptr;
  ok(ks_engine_new(config.get(), store.get(), &raw_engine));
  Owned<ks_engine> engine(raw_engine);

  ks_session *raw = nullptr;
  ok(ks_session_load(engine.get(), nullptr, 0, "/", &raw));
  Owned<ks_session> session(raw);
  ks_load_report report = ks_session_load_report(session.get());
  EXPECT(report == KS_LOAD_REPORT_NO_COOKIE);
  const std::string user = "\"bjarne\"";
  ok(ks_session_set_field(session.get(), "user", user.data(), user.size()));
  ks_set_cookies *raw_cookies = nullptr;
  ok(ks_session_commit(session.get(), true, &raw_cookies));
  Owned<ks_set_cookies> cookies(raw_cookies);
  auto values = set_cookies(cookies.get());
  EXPECT(values.size() == 2);
  EXPECT(values[0].find("samesite=lax") != std::string::npos);

  // The next request, loaded asynchronously; the callback fulfils a promise.
  struct Pending {
    std::promise<std::pair<ks_result, ks_session *>> done;
  } pending;
  auto future = pending.done.get_future();
  const std::string header = cookie_header(values);
  ks_result r = ks_session_load_async(
      engine.get(), reinterpret_cast<const uint8_t *>(header.data()), header.size(), "/",
      [](void *userdata, ks_result result, ks_session *s) {
        static_cast<Pending *>(userdata)->done.set_value({result, s});
      },
      &pending);
  ok(r);
  auto [result, loaded_raw] = future.get();
  ok(result);
  Owned<ks_session> loaded(loaded_raw);
  EXPECT(ks_session_load_report(loaded.get()) == KS_LOAD_REPORT_LOADED);
  std::string buf(64, '\0');
  size_t len = 0;
  ok(ks_session_get_field(loaded.get(), "user", buf.data(), buf.size(), &len));
  buf.resize(len);
  EXPECT(buf == user);
  const char *json = nullptr;
  ok(ks_session_json(loaded.get(), &json, &len));
  EXPECT(std::string(json, len).find("\"user\":\"bjarne\"") != std::string::npos);
  EXPECT(ks_session_set_save(loaded.get(), KS_SAVE_MODE_SKIP) == KS_RESULT_OK);
  ok(ks_session_commit(loaded.get(), true, &raw_cookies));
  Owned<ks_set_cookies> none(raw_cookies);
  EXPECT(ks_set_cookies_count(none.get()) == 0);
  EXPECT(std::strcmp(ks_result_message(KS_RESULT_NULL_PARAMETER), "a required pointer argument was NULL") == 0);

  loaded.reset();
  session.reset();
  engine.reset();
  store.reset();
  ok(ks_runtime_shutdown());
  std::puts("test_cpp: ok");
  return 0;
}
