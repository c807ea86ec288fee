// koa_session.hpp, the C++17 wrapper: RAII handles that move and never copy, string_view in,
// strings out, failures as koa_session::error (a std::system_error in the ks_result category)
// or as std::error_code, a store written in C++, and the version macros against the library.
#include "koa_session.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#define EXPECT(cond)                                                                      \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

// Runs `body`, which must throw koa_session::error with code `expected`; returns the error's what().
#define EXPECT_ERROR(expected, body)                                                          \
  [&]() -> std::string {                                                                  \
    try {                                                                                 \
      body;                                                                               \
    } catch (const koa_session::error &e) {                                               \
      if (e.code() != (expected)) {                                                       \
        std::fprintf(stderr, "%s:%d: %s threw %s\n", __FILE__, __LINE__, #body, e.what()); \
        std::exit(1);                                                                     \
      }                                                                                   \
      return e.what();                                                                    \
    }                                                                                     \
    std::fprintf(stderr, "%s:%d: %s did not throw\n", __FILE__, __LINE__, #body);         \
    std::exit(1);                                                                         \
  }()

namespace ks = koa_session;
using namespace std::chrono_literals;

namespace {

// Every handle owns its C object alone: it moves, it never copies.
template <class T>
constexpr bool move_only = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                           std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;
static_assert(move_only<ks::ConfigBuilder> && move_only<ks::Store> && move_only<ks::Engine> && move_only<ks::Session> &&
              move_only<ks::SetCookies> && move_only<ks::IdsCursor>);
static_assert(std::is_base_of_v<std::system_error, ks::error>);

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// The Cookie header a browser would send back after these Set-Cookie values.
std::string cookie_header(const ks::SetCookies &cookies) {
  std::string h;
  for (std::string_view v : cookies.values()) {
    if (!h.empty()) h += "; ";
    h += v.substr(0, v.find(';'));
  }
  return h;
}

void version_macros_match_the_library() {
  char expected[64];
  std::snprintf(expected, sizeof expected, "%d.%d.%d", KS_VERSION_MAJOR, KS_VERSION_MINOR, KS_VERSION_PATCH);
  EXPECT(std::string_view(KS_VERSION_STRING) == expected);
  EXPECT(ks::version() == KS_VERSION_STRING);
}

void errors_carry_code_category_and_detail() {
  ks::ConfigBuilder config;
  std::string what = EXPECT_ERROR(KS_RESULT_INVALID_COOKIE_NAME, config.set_cookie_name("bad name"));
  EXPECT(contains(what, "ks_config_builder_set_cookie_name"));
  EXPECT(contains(what, ks_result_message(KS_RESULT_INVALID_COOKIE_NAME)));
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, config.add_key(""));
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, config.set_max_age(-1ms));
  try {
    config.set_default_ttl(0ms);
    EXPECT(false);
  } catch (const std::system_error &e) {  // catchable as the standard type
    EXPECT(e.code().category() == ks::category());
    EXPECT(std::strcmp(e.code().category().name(), "koa_session") == 0);
    EXPECT(e.code().message() == ks_result_message(KS_RESULT_INVALID_ARGUMENT));
    EXPECT(static_cast<const ks::error &>(e).result() == KS_RESULT_INVALID_ARGUMENT);
  }
  std::error_code ec = KS_RESULT_STORE_TIMEOUT;  // ks_result converts implicitly
  EXPECT(ec.value() == KS_RESULT_STORE_TIMEOUT && ec.category() == ks::category());

  // A bad Redis URL: the library's detail (why it was refused) reaches what().
  ks::Store bad = ks::Store::redis("ftp://127.0.0.1/", std::nullopt, 0ms, 0ms, ec);
  EXPECT(ec == KS_RESULT_INVALID_URL && !bad);
  what = EXPECT_ERROR(KS_RESULT_INVALID_URL, ks::Store::redis("not a url"));
  EXPECT(contains(what, "ks_redis_store_new: "));
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::Store::memory().connection_state());
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::Store::redis_cluster({}));
}

void load_commit_and_fields() {
  ks::Store store = ks::Store::memory();
  ks::Engine engine(ks::ConfigBuilder().add_key("new key").add_key("old key").set_same_site(ks::SameSite::lax), store);

  std::optional<ks::Session> s = engine.load("");
  EXPECT(s && s->is_new() && s->load_report() == ks::LoadReport::no_cookie);
  EXPECT(s->id().size() == 32);
  EXPECT(!s->field("views"));
  s->set_field("views", "1");
  s->set_field("user", "\"bjarne\"");
  const std::string big = "\"" + std::string(1000, 'x') + "\"";  // longer than the first buffer
  s->set_field("big", big);
  EXPECT_ERROR(KS_RESULT_INVALID_JSON, s->set_field("bad", "{nope"));
  const std::string id(s->id());
  ks::SetCookies cookies = s->commit(true);
  EXPECT(cookies.size() == 2 && !cookies.empty());
  EXPECT(contains(cookies.at(0), "koa.sid=" + id + ";") && contains(cookies.at(0), "samesite=lax"));
  EXPECT(contains(cookies.at(1), "koa.sid.sig="));
  EXPECT_ERROR(KS_RESULT_OUT_OF_RANGE, cookies.at(2));
  EXPECT(s->id() == id);  // still readable after the commit
  EXPECT_ERROR(KS_RESULT_SESSION_FINISHED, s->commit(true));
  std::error_code ec;
  EXPECT(s->commit(true, ec).empty() && ec == KS_RESULT_SESSION_FINISHED);

  // The next request brings the cookies back.
  const std::string header = cookie_header(cookies);
  s = engine.load(header, "/");
  EXPECT(s && !s->is_new() && s->load_report() == ks::LoadReport::loaded && s->id() == id);
  EXPECT(s->field("views") == "1" && s->field("user") == "\"bjarne\"" && s->field("big") == big);
  const std::string json = s->json();
  EXPECT(json.front() == '{' && contains(json, "\"user\":\"bjarne\"") && contains(json, "\"cookie\":{"));
  s->remove_field("big");
  EXPECT(!s->field("big"));
  EXPECT_ERROR(KS_RESULT_INVALID_JSON, s->set_json("[1,2]"));
  s->set_save(ks::SaveMode::skip);
  EXPECT(s->commit(true).empty());

  // Regenerate at login: a new id, empty data; the old id names nothing afterwards.
  s = engine.load(header, "/");
  s->regenerate();
  EXPECT(s->id() != id && !s->field("user"));
  s->set_field("user", "\"alice\"");
  const std::string login_header = cookie_header(s->commit(true));
  s = engine.load(header, "/");
  EXPECT(s->load_report() == ks::LoadReport::missing && s->is_new());
  ks::SetCookies cleared = s->commit(true);
  EXPECT(cleared.size() == 2 && contains(cleared.at(0), "expires=Thu, 01 Jan 1970 00:00:00 GMT"));

  // Logout: destroyed, both cookies cleared, the record gone.
  s = engine.load(login_header, "/");
  EXPECT(s->field("user") == "\"alice\"");
  s->mark_destroyed();
  EXPECT(s->is_destroyed());
  EXPECT_ERROR(KS_RESULT_SESSION_DESTROYED, s->json());
  cleared = s->commit(true);
  EXPECT(cleared.size() == 2 && contains(cleared.at(1), "koa.sid.sig=;"));
  s = engine.load(login_header);
  EXPECT(s->load_report() == ks::LoadReport::missing);
}

void paths_secure_and_cookie_name() {
  ks::ConfigBuilder config;
  config.set_cookie_name("app.sid").set_path("/app").set_secure(true).set_max_age(1h);
  config.validate();
  ks::Engine engine(config, ks::Store::memory(10));  // the engine keeps the store alive
  EXPECT(!engine.load("", "/other"));
  std::optional<ks::Session> s = engine.load("", "/app/page");
  EXPECT(s.has_value());
  s->set_field("n", "1");
  std::error_code ec;
  EXPECT(s->commit(true, ec).empty() && ec == KS_RESULT_SECURE_COOKIE_OVER_HTTP);
  ks::SetCookies cookies = s->commit(false);  // over HTTPS; the failed commit sent nothing
  EXPECT(contains(cookies.at(0), "app.sid=") && contains(cookies.at(0), "path=/app") && contains(cookies.at(0), "secure"));
  EXPECT(cookies.size() == 1);  // no key: unsigned

  config.set_path(std::nullopt);
  ks::Engine no_path(config, ks::Store::memory());
  EXPECT(no_path.load("", "/anywhere").has_value());
}

void moves_transfer_ownership() {
  ks::Engine engine(ks::ConfigBuilder().add_key("k"), ks::Store::memory());
  ks::Session a = *engine.load("");
  const std::string id(a.id());
  ks::Session b = std::move(a);
  EXPECT(b.id() == id);
  // A moved-from handle is empty: calls on it fail cleanly, never crash.
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, (void)a.id());  // NOLINT(bugprone-use-after-move)
  EXPECT(!a.is_new() && !a.is_destroyed());               // NOLINT(bugprone-use-after-move)
  ks::Session c = *engine.load("");
  c = std::move(b);  // frees c's own session (ASan / valgrind would report a leak)
  EXPECT(c.id() == id);
  c.set_field("n", "1");
  ks::SetCookies first = c.commit(true);
  ks::SetCookies moved(std::move(first));
  EXPECT(moved.size() == 2 && first.size() == 0);  // NOLINT(bugprone-use-after-move)

  ks::ConfigBuilder config;
  ks::ConfigBuilder other = std::move(config);
  other.add_key("k");
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, config.add_key("k"));  // NOLINT(bugprone-use-after-move)
  ks::Store store = ks::Store::memory();
  ks::Store taken = std::move(store);
  EXPECT(taken && !store);  // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, ks::Engine(other, store));
  ks::Engine e2(other, taken);
  ks::Engine e3 = std::move(e2);
  EXPECT(e3.load("").has_value());
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, e2.load(""));  // NOLINT(bugprone-use-after-move)
}

// A store written in C++: a map behind a mutex, with switches to fail.
struct MapBackend final : ks::StoreBackend {
  explicit MapBackend(std::atomic<bool> &dropped) : dropped(dropped) {}
  ~MapBackend() override { dropped = true; }
  ks::StoreStatus get(std::string_view key, std::string &json) override {
    std::lock_guard<std::mutex> lock(mu);
    if (fail_with) return *fail_with;
    if (throw_on_get) throw std::runtime_error("backend exploded");
    auto it = records.find(std::string(key));
    if (it == records.end()) return ks::StoreStatus::not_found;
    json = it->second;
    return ks::StoreStatus::ok;
  }
  ks::StoreStatus set(std::string_view key, std::string_view json, std::chrono::milliseconds ttl) override {
    std::lock_guard<std::mutex> lock(mu);
    if (fail_with) return *fail_with;
    records[std::string(key)] = std::string(json);
    last_ttl = ttl;
    return ks::StoreStatus::ok;
  }
  ks::StoreStatus destroy(std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu);
    records.erase(std::string(key));
    return ks::StoreStatus::ok;
  }
  std::atomic<bool> &dropped;
  std::mutex mu;
  std::map<std::string, std::string> records;
  std::optional<ks::StoreStatus> fail_with;
  bool throw_on_get = false;
  std::chrono::milliseconds last_ttl{0};
};

void custom_store() {
  std::atomic<bool> dropped{false};
  {
    auto owned = std::make_unique<MapBackend>(dropped);
    MapBackend *backend = owned.get();
    ks::Engine engine(ks::ConfigBuilder().add_key("k").set_max_age(90s), ks::Store::custom(std::move(owned), "test:"));
    std::optional<ks::Session> s = engine.load("");
    s->set_field("views", "7");
    const std::string id(s->id());
    const std::string header = cookie_header(s->commit(true));
    {
      std::lock_guard<std::mutex> lock(backend->mu);
      EXPECT(backend->records.count("test:" + id) == 1 && contains(backend->records["test:" + id], "\"views\":7"));
      EXPECT(backend->last_ttl == 90s);
    }
    EXPECT(engine.load(header)->field("views") == "7");

    backend->fail_with = ks::StoreStatus::unavailable;
    std::error_code ec;
    EXPECT(!engine.load(header, std::nullopt, ec) && ec == KS_RESULT_STORE_UNAVAILABLE);
    EXPECT_ERROR(KS_RESULT_STORE_UNAVAILABLE, engine.load(header));
    backend->fail_with = ks::StoreStatus::rejected;
    s = engine.load("");
    s->set_field("n", "1");
    EXPECT_ERROR(KS_RESULT_STORE_REJECTED, s->commit(true));
    backend->fail_with.reset();
    EXPECT(s->commit(true).size() == 2);  // a failed commit may be retried
    backend->throw_on_get = true;  // an exception stops at the boundary: a store error
    EXPECT_ERROR(KS_RESULT_STORE_ERROR, engine.load(header));
    EXPECT(!dropped);
  }
  EXPECT(dropped);  // the store deleted its backend after the last engine went
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, ks::Store::custom(nullptr));
}

// Operator calls: length, clear, and the ids walk in small batches, on a memory store.
void operator_calls() {
  ks::Store store = ks::Store::memory();
  ks::Engine engine(ks::ConfigBuilder().add_key("k"), store);
  EXPECT(store.length() == 0);
  EXPECT(store.ids(7).next().empty());

  const size_t n = 300;
  std::set<std::string> created;
  std::string header;  // a cookie of one of them, to load after the clear
  for (size_t i = 0; i < n; i++) {
    std::optional<ks::Session> s = engine.load("");
    s->set_field("n", std::to_string(i));
    created.insert(std::string(s->id()));
    header = cookie_header(s->commit(true));
  }
  EXPECT(created.size() == n);
  EXPECT(engine.load("")->commit(true).empty());  // an empty new session is not stored
  EXPECT(store.length() == n);
  std::error_code ec = KS_RESULT_STORE_ERROR;
  EXPECT(store.length(ec) == n && !ec);  // a success clears ec

  // Batches of at most 7 ids, each id exactly once, every session found.
  ks::IdsCursor cursor = store.ids(7);
  std::set<std::string> seen;
  size_t batches = 0, total = 0;
  for (std::vector<std::string> batch; !(batch = cursor.next()).empty();) {
    EXPECT(batch.size() <= 7);
    batches++;
    for (const std::string &id : batch) {
      EXPECT(id.size() == 32);
      EXPECT(seen.insert(id).second);  // no duplicate
      total++;
    }
  }
  EXPECT(total == n && seen == created && batches >= (n + 6) / 7);
  EXPECT(cursor.next().empty());  // stays finished

  // The cursor moves (the moved-from one fails cleanly) and keeps its store alive.
  ks::IdsCursor walk = store.ids();  // default batch: 1000, so all of them at once
  ks::IdsCursor moved = std::move(walk);
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, walk.next());  // NOLINT(bugprone-use-after-move)
  EXPECT(walk.next(ec).empty() && ec == KS_RESULT_NULL_PARAMETER);  // NOLINT(bugprone-use-after-move)
  std::vector<std::string> all = moved.next(ec);
  EXPECT(!ec && all.size() == n && std::set<std::string>(all.begin(), all.end()) == created);
  EXPECT(moved.next(ec).empty() && !ec);
  ks::IdsCursor orphan = ks::Store::memory().ids(3);  // its store handle is gone already
  EXPECT(orphan.next().empty());

  // Clear: every session gone, counted; the cookies now name nothing.
  ks::IdsCursor during = store.ids(5);
  EXPECT(during.next().size() == 5);
  EXPECT(store.clear() == n);
  for (const std::string &id : during.next()) EXPECT(created.count(id) == 1);  // removed ones may or may not come
  EXPECT(store.length() == 0 && store.ids(5).next().empty());
  EXPECT(store.clear(ec) == 0 && !ec);
  EXPECT(engine.load(header)->load_report() == ks::LoadReport::missing);

  // A store written in C++ has no operator calls; a moved-from Store is empty.
  std::atomic<bool> dropped{false};
  ks::Store custom = ks::Store::custom(std::make_unique<MapBackend>(dropped), "op:");
  const std::string what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, custom.length());
  EXPECT(contains(what, "ks_store_length: ") && contains(what, "not supported by this store"));
  EXPECT(custom.length(ec) == 0 && ec == KS_RESULT_INVALID_ARGUMENT);
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, custom.clear());
  EXPECT(custom.clear(ec) == 0 && ec == KS_RESULT_INVALID_ARGUMENT);
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, custom.ids(7));
  ks::Store taken = std::move(store);
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, store.length());  // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, store.clear());   // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, store.ids());     // NOLINT(bugprone-use-after-move)
  EXPECT(taken.length() == 0);
}

// Log out everywhere: set_user_field, user_sessions (a vector of UserSession, ids and
// metadata), destroy_user_sessions with and without an exception, on a memory store; a custom
// store has no user index, so an engine with a user field refuses it.
void user_sessions() {
  ks::Store store = ks::Store::memory();
  ks::Engine engine(ks::ConfigBuilder().add_key("k").set_user_field("passport.user"), store);
  const auto t0 = std::chrono::system_clock::now() - 1s;
  std::vector<std::string> ids, headers;
  for (int i = 0; i < 3; i++) {
    std::optional<ks::Session> s = engine.load("");
    s->set_field("passport", R"({"user":"ann"})");
    s->set_field("device", "\"phone " + std::to_string(i) + "\"");
    ids.emplace_back(s->id());
    headers.push_back(cookie_header(s->commit(true)));
  }
  std::vector<ks::UserSession> listed = store.user_sessions("passport.user", "ann");
  EXPECT(listed.size() == 3);
  std::set<std::string> listed_ids;
  for (const ks::UserSession &u : listed) {
    listed_ids.insert(u.id);
    EXPECT(u.since >= t0 && u.since <= std::chrono::system_clock::now() + 1s);
    EXPECT(contains(u.json, R"("device":"phone )"));
  }
  EXPECT(listed_ids == std::set<std::string>(ids.begin(), ids.end()));
  EXPECT(store.user_sessions("passport.user", "bob").empty());

  // All but the first, then the rest.
  EXPECT(store.destroy_user_sessions("ann", ids[0]) == 2);
  EXPECT(engine.load(headers[0])->load_report() == ks::LoadReport::loaded);
  EXPECT(engine.load(headers[1])->load_report() == ks::LoadReport::missing);
  listed = store.user_sessions("passport.user", "ann");
  EXPECT(listed.size() == 1 && listed[0].id == ids[0]);
  std::error_code ec = KS_RESULT_STORE_ERROR;
  EXPECT(store.destroy_user_sessions("ann", std::nullopt, ec) == 1 && !ec);
  EXPECT(engine.load(headers[0])->load_report() == ks::LoadReport::missing);
  EXPECT(store.user_sessions("passport.user", "ann", ec).empty() && !ec);

  // A user field holding no user id: the commit fails with KS_RESULT_INVALID_USER_ID.
  std::optional<ks::Session> s = engine.load("");
  s->set_field("passport", R"({"user":[1]})");
  EXPECT(contains(EXPECT_ERROR(KS_RESULT_INVALID_USER_ID, s->commit(true)), "'passport.user'"));

  // Bad arguments.
  EXPECT(contains(EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, store.destroy_user_sessions("")), "ks_store_destroy_user_sessions: "));
  EXPECT(store.destroy_user_sessions(std::string(513, 'x'), std::nullopt, ec) == 0 && ec == KS_RESULT_INVALID_ARGUMENT);
  EXPECT(contains(EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, store.user_sessions("a..b", "ann")), "userField"));
  EXPECT(store.user_sessions("uid", "", ec).empty() && ec == KS_RESULT_INVALID_ARGUMENT);
  EXPECT(contains(EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_user_field("")), "userField"));
  ks::ConfigBuilder().set_user_field("uid").set_user_field(std::nullopt).validate();

  // A custom store has neither compare-and-set nor a user index.
  std::atomic<bool> dropped{false};
  ks::Store custom = ks::Store::custom(std::make_unique<MapBackend>(dropped), "u:");
  const std::string what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::Engine(ks::ConfigBuilder().set_user_field("uid"), custom));
  EXPECT(contains(what, "ks_engine_new: ") && contains(what, "user index"));
  EXPECT(contains(EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, custom.destroy_user_sessions("ann")), "no user index"));
  EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, custom.user_sessions("uid", "ann"));
  ks::Store taken = std::move(store);
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, store.destroy_user_sessions("ann"));  // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, store.user_sessions("uid", "ann"));   // NOLINT(bugprone-use-after-move)
}

// Session lifetimes: set_idle_timeout and set_absolute_timeout on an engine clock the test
// moves (set_clock), LoadReport::expired, the errors naming the option, a custom store (no
// compare-and-set) refused.
std::atomic<int64_t> fake_now{1750000000000};
int64_t fake_clock(void *userdata) { return static_cast<std::atomic<int64_t> *>(userdata)->load(); }

void lifetimes() {
  ks::Store store = ks::Store::memory();
  ks::Engine engine(ks::ConfigBuilder().add_key("k").set_idle_timeout(1s).set_absolute_timeout(10s).set_clock(fake_clock, &fake_now),
                    store);
  std::optional<ks::Session> s = engine.load("");
  s->set_field("n", "1");
  std::string header = cookie_header(s->commit(true));
  // Reads 600 ms apart keep it; the times never show.
  for (int i = 0; i < 4; i++) {
    fake_now += 600;
    s = engine.load(header);
    EXPECT(s->load_report() == ks::LoadReport::loaded && s->field("n") == "1");
    EXPECT(!contains(s->json(), "_ks") && !s->field("_ks"));
    s->commit(true);
  }
  // A whole idle window without a request: over (well within the absolute timeout).
  fake_now += 1000;
  s = engine.load(header);
  EXPECT(s->load_report() == ks::LoadReport::expired && s->is_new() && !s->field("n"));
  s->commit(true);
  EXPECT(engine.load(header)->load_report() == ks::LoadReport::missing);
  EXPECT(store.length() == 0);

  // Settings: zero is off, negative or over ten years refused, naming the option.
  ks::ConfigBuilder().set_idle_timeout(0ms).set_absolute_timeout(0ms).set_clock(nullptr, nullptr).validate();
  std::string what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_idle_timeout(-1ms));
  EXPECT(contains(what, "ks_config_builder_set_idle_timeout_ms: ") && contains(what, "\"idleTimeout\"") && contains(what, "got -1"));
  what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_absolute_timeout(std::chrono::hours(24 * 3651)));
  EXPECT(contains(what, "ks_config_builder_set_absolute_timeout_ms: ") && contains(what, "\"absoluteTimeout\"") &&
         contains(what, "ten years"));
  std::atomic<bool> dropped{false};
  ks::Store custom = ks::Store::custom(std::make_unique<MapBackend>(dropped), "l:");
  what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::Engine(ks::ConfigBuilder().set_idle_timeout(1s), custom));
  EXPECT(contains(what, "ks_engine_new: ") && contains(what, "idleTimeout") && contains(what, "compare-and-set"));
  ks::ConfigBuilder moved;
  ks::ConfigBuilder taken = std::move(moved);
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, moved.set_idle_timeout(1s));  // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, moved.set_clock(fake_clock, &fake_now));  // NOLINT(bugprone-use-after-move)
}

// Id renewal: set_renew_interval / set_renew_grace on the engine clock: a new id's cookie after
// the interval, Session::id() the record's key throughout, the replaced id working for the grace
// (its commit sends the new id's cookie) and not after; the errors naming the option.
void renewal() {
  ks::Store store = ks::Store::memory();
  ks::Engine engine(ks::ConfigBuilder().add_key("k").set_renew_interval(1s).set_renew_grace(500ms).set_clock(fake_clock, &fake_now),
                    store);
  std::optional<ks::Session> s = engine.load("");
  s->set_field("n", "1");
  const std::string old = cookie_header(s->commit(true));
  const std::string key(s->id());
  fake_now += 1000;
  s = engine.load(old);
  EXPECT(s->load_report() == ks::LoadReport::loaded && s->id() == key);
  const std::string renewed = cookie_header(s->commit(true));
  EXPECT(!renewed.empty() && renewed != old && !contains(renewed, key));
  s = engine.load(renewed);
  EXPECT(s->load_report() == ks::LoadReport::loaded && s->id() == key && s->field("n") == "1");
  EXPECT(s->commit(true).empty());
  fake_now += 499;
  s = engine.load(old);
  EXPECT(s->load_report() == ks::LoadReport::loaded && s->id() == key && s->field("n") == "1");
  EXPECT(cookie_header(s->commit(true)) == renewed);
  fake_now += 1;
  s = engine.load(old);
  EXPECT(s->load_report() == ks::LoadReport::missing && s->is_new() && s->id() != key);

  ks::ConfigBuilder().set_renew_interval(0ms).set_renew_grace(0ms).validate();
  std::string what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_renew_interval(-1ms));
  EXPECT(contains(what, "ks_config_builder_set_renew_interval_ms: ") && contains(what, "\"renewInterval\"") && contains(what, "got -1"));
  what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_renew_grace(-5ms));
  EXPECT(contains(what, "ks_config_builder_set_renew_grace_ms: ") && contains(what, "\"renewGrace\"") && contains(what, "0 is the default") &&
         contains(what, "got -5"));
  what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::ConfigBuilder().set_renew_grace(std::chrono::hours(24 * 3651)));
  EXPECT(contains(what, "\"renewGrace\"") && contains(what, "ten years"));
  std::atomic<bool> dropped{false};
  ks::Store custom = ks::Store::custom(std::make_unique<MapBackend>(dropped), "r:");
  what = EXPECT_ERROR(KS_RESULT_INVALID_ARGUMENT, ks::Engine(ks::ConfigBuilder().set_renew_interval(1s), custom));
  EXPECT(contains(what, "renewInterval") && contains(what, "compare-and-set"));
  ks::ConfigBuilder moved;
  ks::ConfigBuilder taken = std::move(moved);
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, moved.set_renew_interval(1s));  // NOLINT(bugprone-use-after-move)
  EXPECT_ERROR(KS_RESULT_NULL_PARAMETER, moved.set_renew_grace(1s));     // NOLINT(bugprone-use-after-move)
}

// ks::cache_headers: what to set beside the session's Set-Cookie, nullopt to leave a header.
void cache_headers() {
  ks::CacheHeaders h = ks::cache_headers(std::nullopt, std::nullopt);
  EXPECT(h.cache_control == "no-cache=\"Set-Cookie\"" && h.vary == "Cookie");
  h = ks::cache_headers("public, max-age=60", "Accept-Encoding");
  EXPECT(!h.cache_control && h.vary == "Accept-Encoding, Cookie");
  h = ks::cache_headers("", "accept, COOKIE");
  EXPECT(h.cache_control == "no-cache=\"Set-Cookie\"" && !h.vary);
  EXPECT(!ks::cache_headers(std::nullopt, "*").vary);
  // Longer than the wrapper's first buffer: asked again with the length needed.
  const std::string many(300, 'x');
  EXPECT(ks::cache_headers(std::nullopt, many).vary == many + ", Cookie");
  std::string what = EXPECT_ERROR(KS_RESULT_INVALID_UTF8, ks::cache_headers(std::nullopt, std::string_view("a\xff", 2)));
  EXPECT(contains(what, "ks_cache_headers"));
  EXPECT_ERROR(KS_RESULT_INVALID_UTF8, ks::cache_headers(std::string_view("\xc3", 1), std::nullopt));
}

}  // namespace

int main() {
  version_macros_match_the_library();
  errors_carry_code_category_and_detail();
  load_commit_and_fields();
  paths_secure_and_cookie_name();
  moves_transfer_ownership();
  custom_store();
  operator_calls();
  user_sessions();
  lifetimes();
  renewal();
  cache_headers();
  ks::runtime_shutdown();
  std::puts("test_hpp: ok");
  return 0;
}
