/*
 * koa_session.hpp - a header-only C++17 wrapper over the C API of koa-session-ts
 * (koa_session.h): the same engine, cookies and records as the Koa middleware.
 *
 * - Handles own their C object and free it once (RAII); they move and never copy. A
 *   moved-from handle is empty: calls on it throw koa_session::error (KS_RESULT_NULL_PARAMETER).
 * - Strings go in as std::string_view and come out as std::string (copies) or as
 *   std::string_view borrowed from a handle, valid as the method says (such methods cannot
 *   be called on a temporary handle, whose strings would die with it).
 * - Failures throw koa_session::error, a std::system_error whose code() is in
 *   koa_session::category() (values are ks_result codes, so `e.code() == KS_RESULT_STORE_TIMEOUT`
 *   works) and whose what() carries the library's detail (ks_last_error_message()).
 *   The calls that fail for reasons outside the program (stores, loads, commits) also take a
 *   std::error_code& and then do not throw for those.
 * - Threads: as in C. An Engine and a Store may be used from any number of threads at once;
 *   a Session and an IdsCursor belong to one thread at a time; SetCookies is immutable.
 *
 *   koa_session::Store store = koa_session::Store::memory();
 *   koa_session::Engine engine(koa_session::ConfigBuilder().add_key(secret), store);
 *   if (std::optional<koa_session::Session> session = engine.load(cookie_header, path)) {
 *     session->set_field("views", "1");
 *     koa_session::SetCookies cookies = session->commit(true);
 *     for (std::string_view v : cookies.values()) send_header("Set-Cookie", v);
 *   }
 *
 * Link with libkoa_session as for C: c++ -std=c++17 app.cpp $(pkg-config --cflags --libs koa_session)
 */
#ifndef KOA_SESSION_HPP
#define KOA_SESSION_HPP

#include "koa_session.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace koa_session {

/// The ks_result codes as a std::error_category; message() is ks_result_message().
class result_category final : public std::error_category {
 public:
  const char *name() const noexcept override { return "koa_session"; }
  std::string message(int code) const override { return ks_result_message(static_cast<uint32_t>(code)); }
};

inline const std::error_category &category() noexcept {
  static const result_category instance;
  return instance;
}

}  // namespace koa_session

/// ks_result converts to std::error_code (found by argument-dependent lookup: ks_result lives
/// in the global namespace).
inline std::error_code make_error_code(ks_result code) noexcept {
  return {static_cast<int>(code), koa_session::category()};
}

namespace std {
template <>
struct is_error_code_enum<ks_result> : true_type {};
}  // namespace std

namespace koa_session {

/// The calling thread's last failure as the library describes it (a store's own message, why
/// a URL was refused), or ks_result_message(code) when it has nothing more to say. Read it
/// right after the failing call, on the same thread.
inline std::string last_error_message(ks_result code) {
  std::string text(256, '\0');
  size_t len = 0;
  ks_result rc = ks_last_error_message(text.data(), text.size(), &len);
  if (rc == KS_RESULT_INSUFFICIENT_SIZE) {
    text.assign(len + 1, '\0');
    rc = ks_last_error_message(text.data(), text.size(), &len);
  }
  if (rc != KS_RESULT_OK || len == 0) return ks_result_message(code);
  text.resize(len);
  return text;
}

/// A failed call: code() is the ks_result, what() is "<function>: <detail>: <code's message>"
/// (the detail only when the library had more to say than the code's message).
class error : public std::system_error {
 public:
  error(ks_result code, const char *function, std::string detail)
      : std::system_error(make_error_code(code), context(code, function, detail)), detail_(std::move(detail)) {}

  ks_result result() const noexcept { return static_cast<ks_result>(code().value()); }
  /// The library's description of this failure (ks_last_error_message()).
  const std::string &detail() const noexcept { return detail_; }

 private:
  static std::string context(ks_result code, const char *function, const std::string &detail) {
    std::string what = function;
    if (detail != ks_result_message(code)) what += ": " + detail;
    return what;
  }
  std::string detail_;
};

namespace detail {

/// Throws for a failed library call, with the library's detail of it.
[[noreturn]] inline void fail(ks_result rc, const char *function) { throw error(rc, function, last_error_message(rc)); }

/// Throws for a failure found by this wrapper before any library call.
[[noreturn]] inline void fail_here(ks_result rc, const char *function) { throw error(rc, function, ks_result_message(rc)); }

inline void check(ks_result rc, const char *function) {
  if (rc != KS_RESULT_OK) fail(rc, function);
}

/// For the std::error_code overloads: the result as a code (cleared on success).
inline bool report(ks_result rc, std::error_code &ec) noexcept {
  ec = rc == KS_RESULT_OK ? std::error_code() : make_error_code(rc);
  return rc == KS_RESULT_OK;
}

inline const uint8_t *bytes(std::string_view s) noexcept { return reinterpret_cast<const uint8_t *>(s.data()); }

/// Copy-out functions (ks_session_json_copy, ks_session_get_field): a first try in a small
/// buffer, then one more with the length the library asked for.
template <class Copy>
ks_result copy_out(Copy copy, std::string &out) {
  out.assign(128, '\0');
  size_t len = 0;
  ks_result rc = copy(out.data(), out.size(), &len);
  if (rc == KS_RESULT_INSUFFICIENT_SIZE) {
    out.assign(len + 1, '\0');
    rc = copy(out.data(), out.size(), &len);
  }
  out.resize(rc == KS_RESULT_OK ? len : 0);
  return rc;
}

struct free_config {
  void operator()(ks_config_builder *p) const noexcept { ks_config_builder_free(p); }
};
struct free_store {
  void operator()(ks_store *p) const noexcept { ks_store_free(p); }
};
struct free_engine {
  void operator()(ks_engine *p) const noexcept { ks_engine_free(p); }
};
struct free_session {
  void operator()(ks_session *p) const noexcept { ks_session_free(p); }
};
struct free_set_cookies {
  void operator()(ks_set_cookies *p) const noexcept { ks_set_cookies_free(p); }
};
struct free_ids_cursor {
  void operator()(ks_ids_cursor *p) const noexcept { ks_ids_cursor_free(p); }
};
struct free_user_sessions {
  void operator()(ks_user_sessions *p) const noexcept { ks_user_sessions_free(p); }
};

}  // namespace detail

enum class SameSite : uint32_t {
  unset = KS_SAME_SITE_UNSET,
  strict = KS_SAME_SITE_STRICT,
  lax = KS_SAME_SITE_LAX,
  none = KS_SAME_SITE_NONE,
};

enum class Priority : uint32_t {
  unset = KS_PRIORITY_UNSET,
  low = KS_PRIORITY_LOW,
  medium = KS_PRIORITY_MEDIUM,
  high = KS_PRIORITY_HIGH,
};

enum class SaveMode : uint32_t {
  default_ = KS_SAVE_MODE_DEFAULT,
  force = KS_SAVE_MODE_FORCE,
  skip = KS_SAVE_MODE_SKIP,
};

enum class LoadReport : uint32_t {
  no_cookie = KS_LOAD_REPORT_NO_COOKIE,
  loaded = KS_LOAD_REPORT_LOADED,
  missing = KS_LOAD_REPORT_MISSING,
  rejected = KS_LOAD_REPORT_REJECTED,
  corrupt = KS_LOAD_REPORT_CORRUPT,
  expired = KS_LOAD_REPORT_EXPIRED,
  alias = KS_LOAD_REPORT_ALIAS,  // a step inside a load: a finished load never reports it
};

enum class ConnectionState : uint32_t {
  connecting = KS_CONNECTION_STATE_CONNECTING,
  connected = KS_CONNECTION_STATE_CONNECTED,
  disconnected = KS_CONNECTION_STATE_DISCONNECTED,
};

/// What a StoreBackend answers (ks_store_status).
enum class StoreStatus : uint32_t {
  ok = KS_STORE_STATUS_OK,
  not_found = KS_STORE_STATUS_NOT_FOUND,
  unavailable = KS_STORE_STATUS_UNAVAILABLE,
  timeout = KS_STORE_STATUS_TIMEOUT,
  rejected = KS_STORE_STATUS_REJECTED,
  error = KS_STORE_STATUS_ERROR,
};

/// The library's version at run time (ks_version()); KS_VERSION_STRING is this header's.
inline std::string_view version() noexcept { return ks_version(); }

/// Session settings (ks_config_builder_*): each setter checks its value at once and returns
/// the builder, so they chain. Not synchronized: one thread at a time.
class ConfigBuilder {
 public:
  ConfigBuilder() : handle_(ks_config_builder_new()) {
    if (!handle_) detail::fail(KS_RESULT_INTERNAL, "ks_config_builder_new");
  }

  ConfigBuilder &set_cookie_name(std::string_view name) {
    detail::check(ks_config_builder_set_cookie_name(handle_.get(), std::string(name).c_str()), "ks_config_builder_set_cookie_name");
    return *this;
  }
  /// The first key added signs; every key verifies (add the newest first).
  ConfigBuilder &add_key(std::string_view key) {
    detail::check(ks_config_builder_add_key(handle_.get(), detail::bytes(key), key.size()), "ks_config_builder_add_key");
    return *this;
  }
  ConfigBuilder &clear_keys() {
    detail::check(ks_config_builder_clear_keys(handle_.get()), "ks_config_builder_clear_keys");
    return *this;
  }
  /// std::nullopt: no path attribute.
  ConfigBuilder &set_path(std::optional<std::string_view> path) {
    const std::string copy(path.value_or(""));
    detail::check(ks_config_builder_set_path(handle_.get(), path ? copy.c_str() : nullptr), "ks_config_builder_set_path");
    return *this;
  }
  /// std::nullopt: no domain attribute.
  ConfigBuilder &set_domain(std::optional<std::string_view> domain) {
    const std::string copy(domain.value_or(""));
    detail::check(ks_config_builder_set_domain(handle_.get(), domain ? copy.c_str() : nullptr), "ks_config_builder_set_domain");
    return *this;
  }
  /// Zero makes a browser-session cookie.
  ConfigBuilder &set_max_age(std::chrono::milliseconds max_age) {
    detail::check(ks_config_builder_set_max_age_ms(handle_.get(), max_age.count()), "ks_config_builder_set_max_age_ms");
    return *this;
  }
  ConfigBuilder &set_expires(std::chrono::system_clock::time_point when) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
    detail::check(ks_config_builder_set_expires_ms(handle_.get(), ms), "ks_config_builder_set_expires_ms");
    return *this;
  }
  ConfigBuilder &set_http_only(bool on) {
    detail::check(ks_config_builder_set_http_only(handle_.get(), on), "ks_config_builder_set_http_only");
    return *this;
  }
  ConfigBuilder &set_secure(bool on) {
    detail::check(ks_config_builder_set_secure(handle_.get(), on), "ks_config_builder_set_secure");
    return *this;
  }
  ConfigBuilder &set_same_site(SameSite value) {
    detail::check(ks_config_builder_set_same_site(handle_.get(), static_cast<uint32_t>(value)), "ks_config_builder_set_same_site");
    return *this;
  }
  ConfigBuilder &set_priority(Priority value) {
    detail::check(ks_config_builder_set_priority(handle_.get(), static_cast<uint32_t>(value)), "ks_config_builder_set_priority");
    return *this;
  }
  ConfigBuilder &set_partitioned(bool on) {
    detail::check(ks_config_builder_set_partitioned(handle_.get(), on), "ks_config_builder_set_partitioned");
    return *this;
  }
  ConfigBuilder &set_rolling(bool on) {
    detail::check(ks_config_builder_set_rolling(handle_.get(), on), "ks_config_builder_set_rolling");
    return *this;
  }
  ConfigBuilder &set_allow_empty(bool on) {
    detail::check(ks_config_builder_set_allow_empty(handle_.get(), on), "ks_config_builder_set_allow_empty");
    return *this;
  }
  /// The store TTL of sessions whose cookie has no lifetime of its own.
  ConfigBuilder &set_default_ttl(std::chrono::milliseconds ttl) {
    detail::check(ks_config_builder_set_default_ttl_ms(handle_.get(), ttl.count()), "ks_config_builder_set_default_ttl_ms");
    return *this;
  }
  /// The userField option (ks_config_builder_set_user_field): the field of the session data
  /// that holds the user's id, a name or a dotted path such as "passport.user"; std::nullopt
  /// (the default) turns it off. With it, Store::destroy_user_sessions() logs a user out
  /// everywhere. The store needs compare-and-set and a user index (the memory and Redis
  /// stores have both; a Store::custom() one has neither, so Engine's constructor refuses it).
  ConfigBuilder &set_user_field(std::optional<std::string_view> field) {
    const std::string copy(field.value_or(""));
    detail::check(ks_config_builder_set_user_field(handle_.get(), field ? copy.c_str() : nullptr), "ks_config_builder_set_user_field");
    return *this;
  }
  /// The idleTimeout option (ks_config_builder_set_idle_timeout_ms): a session not used for
  /// this long is gone (reads count as use) and loads as a new one, LoadReport::expired.
  /// Zero (the default) turns it off. Up to ten years; the store needs compare-and-set (the
  /// memory and Redis stores have it; a Store::custom() one has not, so Engine's constructor
  /// refuses it).
  ConfigBuilder &set_idle_timeout(std::chrono::milliseconds timeout) {
    const char *function = "ks_config_builder_set_idle_timeout_ms";
    detail::check(ks_config_builder_set_idle_timeout_ms(handle_.get(), timeout_ms(timeout, "idleTimeout", function)), function);
    return *this;
  }
  /// The absoluteTimeout option (ks_config_builder_set_absolute_timeout_ms): a session this old
  /// since its creation or its last Session::regenerate() is gone however active it is. Zero
  /// (the default) turns it off. Limits and store as for set_idle_timeout().
  ConfigBuilder &set_absolute_timeout(std::chrono::milliseconds timeout) {
    const char *function = "ks_config_builder_set_absolute_timeout_ms";
    detail::check(ks_config_builder_set_absolute_timeout_ms(handle_.get(), timeout_ms(timeout, "absoluteTimeout", function)), function);
    return *this;
  }
  /// The renewInterval option (ks_config_builder_set_renew_interval_ms): a session whose cookie
  /// id is older gets a new id at the end of its next request (Session::id() stays the
  /// record's key; the cookie changes). Zero (the default) turns it off. Limits and store as for
  /// set_idle_timeout().
  ConfigBuilder &set_renew_interval(std::chrono::milliseconds interval) {
    const char *function = "ks_config_builder_set_renew_interval_ms";
    detail::check(ks_config_builder_set_renew_interval_ms(handle_.get(), timeout_ms(interval, "renewInterval", function)), function);
    return *this;
  }
  /// The renewGrace option (ks_config_builder_set_renew_grace_ms): how long an id a renewal
  /// replaced still loads the session. Zero is the default, one minute; up to ten years.
  ConfigBuilder &set_renew_grace(std::chrono::milliseconds grace) {
    const char *function = "ks_config_builder_set_renew_grace_ms";
    detail::check(ks_config_builder_set_renew_grace_ms(handle_.get(), timeout_ms(grace, "renewGrace", function, "0 is the default")), function);
    return *this;
  }
  /// The engines' clock (ks_config_builder_set_clock), for tests: `clock(userdata)` gives
  /// unix milliseconds; nullptr (the default) is the system clock. It may be called from any
  /// thread, several at once. `clock` and `userdata` must outlive every Engine made from this
  /// builder and every Session loaded from one (the wrapper does not own them: a function
  /// and an object with static storage, or one that outlives the server, are the usual choice).
  ConfigBuilder &set_clock(ks_clock_fn clock, void *userdata) {
    detail::check(ks_config_builder_set_clock(handle_.get(), clock, userdata), "ks_config_builder_set_clock");
    return *this;
  }
  /// Checks the settings as Engine's constructor would.
  void validate() const { detail::check(ks_config_builder_validate(handle_.get()), "ks_config_builder_validate"); }

  const ks_config_builder *c_handle() const noexcept { return handle_.get(); }

 private:
  /// A duration for the C setters, which take unsigned ms: a negative one is refused here,
  /// naming the option as the library does.
  static uint64_t timeout_ms(std::chrono::milliseconds timeout, const char *option, const char *function,
                             const char *zero = "0 turns it off") {
    if (timeout.count() < 0)
      throw error(KS_RESULT_INVALID_ARGUMENT, function,
                  std::string("option \"") + option + "\": must not be negative (" + zero + "); got " + std::to_string(timeout.count()));
    return static_cast<uint64_t>(timeout.count());
  }

  std::unique_ptr<ks_config_builder, detail::free_config> handle_;
};

/// A store written in C++ for Store::custom(). Called from several threads at once (make it
/// thread-safe); it may block. Keys include the store's key prefix. An exception thrown
/// from a method is caught at the boundary and reported as StoreStatus::error.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  /// On a hit, put the record's JSON in `json` and return ok; on a miss, not_found.
  virtual StoreStatus get(std::string_view key, std::string &json) = 0;
  virtual StoreStatus set(std::string_view key, std::string_view json, std::chrono::milliseconds ttl) = 0;
  /// Removing an unknown key succeeds.
  virtual StoreStatus destroy(std::string_view key) = 0;
};

/// A walk over a store's session ids, one batch at a time (ks_ids_cursor), from Store::ids().
/// It keeps its store alive. Session ids are bearer credentials: never show or log them.
/// One thread at a time.
///
///   koa_session::IdsCursor cursor = store.ids(500);
///   for (std::vector<std::string> batch; !(batch = cursor.next()).empty();)
///     for (const std::string &id : batch) audit(id);
class IdsCursor {
 public:
  /// Takes ownership of a C handle (from ks_store_ids()).
  explicit IdsCursor(ks_ids_cursor *raw) noexcept : handle_(raw) {}

  /// The next batch of ids (copies); empty once every id was returned, and from then on.
  /// Blocks the calling thread (not from a callback run by the engine). After a failure (a
  /// Redis store: unreachable, a timeout, a failover during the walk) the same batch may be
  /// asked for again.
  std::vector<std::string> next() {
    std::vector<std::string> batch;
    const char *function = nullptr;
    const ks_result rc = fetch(batch, function);  // before reading `function`
    detail::check(rc, function);
    return batch;
  }
  /// As above, with failures in `ec` (then the batch is empty: check `ec` before taking an
  /// empty batch for the end).
  std::vector<std::string> next(std::error_code &ec) {
    std::vector<std::string> batch;
    const char *function = nullptr;
    detail::report(fetch(batch, function), ec);
    return batch;
  }

  ks_ids_cursor *c_handle() const noexcept { return handle_.get(); }

 private:
  /// Fetches the next batch into `batch` (left empty on failure, `function` naming the call).
  ks_result fetch(std::vector<std::string> &batch, const char *&function) {
    function = "ks_ids_cursor_next";
    size_t count = 0;
    ks_result rc = ks_ids_cursor_next(handle_.get(), &count);
    if (rc != KS_RESULT_OK) return rc;
    batch.reserve(count);
    for (size_t i = 0; i < count; i++) {
      const char *id = nullptr;
      size_t len = 0;
      if ((rc = ks_ids_cursor_get(handle_.get(), i, &id, &len)) != KS_RESULT_OK) {
        function = "ks_ids_cursor_get";
        batch.clear();
        return rc;
      }
      batch.emplace_back(id, len);
    }
    return KS_RESULT_OK;
  }

  std::unique_ptr<ks_ids_cursor, detail::free_ids_cursor> handle_;
};

/// One live session of a user, from Store::user_sessions().
struct UserSession {
  /// The session id: a secret (whoever holds it is logged in as the user). Compare it with
  /// Session::id() ("this device") or pass it to Store::destroy_user_sessions() as the one to
  /// keep; never show or log it.
  std::string id;
  /// When the session was put under the user: the login.
  std::chrono::system_clock::time_point since;
  /// The session data as stored (a JSON object): what a "your devices" page shows, with `since`.
  std::string json;
};

/// A session store (ks_store). Engines made from it hold their own reference, so a Store may
/// go away before them.
class Store {
 public:
  /// The in-process memory store; max_entries 0 means unlimited.
  static Store memory(size_t max_entries = 0) {
    ks_store *raw = nullptr;
    detail::check(ks_memory_store_new(max_entries, &raw), "ks_memory_store_new");
    return Store(raw);
  }

  /// One Redis server (ks_redis_store_new): records koa-redis reads; prefix std::nullopt means
  /// "koa:sess:"; a timeout of 0 means the default (2 s). Connects in the background.
  static Store redis(std::string_view url, std::optional<std::string_view> key_prefix = std::nullopt,
                     std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0),
                     std::chrono::milliseconds response_timeout = std::chrono::milliseconds(0)) {
    std::error_code ec;
    Store store = redis(url, key_prefix, connect_timeout, response_timeout, ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_redis_store_new");
    return store;
  }
  /// As above; a bad URL sets `ec` (KS_RESULT_INVALID_URL) and returns an empty Store.
  static Store redis(std::string_view url, std::optional<std::string_view> key_prefix, std::chrono::milliseconds connect_timeout,
                     std::chrono::milliseconds response_timeout, std::error_code &ec) {
    const std::string url_copy(url), prefix_copy(key_prefix.value_or(""));
    ks_store *raw = nullptr;
    detail::report(ks_redis_store_new(url_copy.c_str(), key_prefix ? prefix_copy.c_str() : nullptr, timeout_ms(connect_timeout),
                                      timeout_ms(response_timeout), &raw),
                   ec);
    return Store(raw);
  }

  /// A Redis Cluster from some of its nodes (ks_redis_cluster_store_new).
  static Store redis_cluster(const std::vector<std::string> &nodes, std::optional<std::string_view> key_prefix = std::nullopt,
                             std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0),
                             std::chrono::milliseconds response_timeout = std::chrono::milliseconds(0)) {
    std::vector<const char *> urls;
    for (const std::string &n : nodes) urls.push_back(n.c_str());
    const std::string prefix_copy(key_prefix.value_or(""));
    ks_store *raw = nullptr;
    detail::check(ks_redis_cluster_store_new(urls.data(), urls.size(), key_prefix ? prefix_copy.c_str() : nullptr,
                                             timeout_ms(connect_timeout), timeout_ms(response_timeout), &raw),
                  "ks_redis_cluster_store_new");
    return Store(raw);
  }

  /// A store backed by `backend` (ks_c_store_new); the store owns it and destroys it after its
  /// last call. `key_prefix` is put before every session id.
  static Store custom(std::unique_ptr<StoreBackend> backend, std::string_view key_prefix = {}) {
    if (!backend) detail::fail_here(KS_RESULT_NULL_PARAMETER, "koa_session::Store::custom");
    const std::string prefix(key_prefix);
    const ks_store_vtable vtable = {backend.get(), &custom_get, &custom_set, &custom_destroy, &custom_drop};
    ks_store *raw = nullptr;
    detail::check(ks_c_store_new(&vtable, prefix.c_str(), &raw), "ks_c_store_new");
    backend.release();  // now owned by the store, deleted by custom_drop
    return Store(raw);
  }

  /// A Redis store's connection state; throws KS_RESULT_INVALID_ARGUMENT for other stores.
  ConnectionState connection_state() const {
    ks_connection_state state = KS_CONNECTION_STATE_CONNECTING;
    detail::check(ks_store_connection_state(handle_.get(), &state), "ks_store_connection_state");
    return static_cast<ConnectionState>(state);
  }

  // Operator calls, on the memory and Redis stores only: a custom() store throws
  // KS_RESULT_INVALID_ARGUMENT ("not supported by this store"). They block the calling thread
  // (not from a callback run by the engine: KS_RESULT_BLOCKING_IN_RUNTIME).

  /// How many sessions the store holds (ks_store_length): the memory store's live ones; a
  /// Redis store's keys under its prefix (a SCAN of the server or of every cluster master, so
  /// it takes time in proportion to the number of keys).
  uint64_t length() const {
    std::error_code ec;
    const uint64_t count = length(ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_store_length");
    return count;
  }
  /// As above, with failures in `ec` (then 0).
  uint64_t length(std::error_code &ec) const noexcept {
    uint64_t count = 0;
    return detail::report(ks_store_length(handle_.get(), &count), ec) ? count : 0;
  }

  /// Removes every session (ks_store_clear) and returns how many went: a Redis store's keys
  /// under its prefix only (SCAN + UNLINK in batches). After a failure part of them may be
  /// gone already; calling it again goes on.
  uint64_t clear() const {
    std::error_code ec;
    const uint64_t removed = clear(ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_store_clear");
    return removed;
  }
  /// As above, with failures in `ec` (then 0).
  uint64_t clear(std::error_code &ec) const noexcept {
    uint64_t removed = 0;
    return detail::report(ks_store_clear(handle_.get(), &removed), ec) ? removed : 0;
  }

  /// Starts a walk over the session ids (without the Redis key prefix) in batches of about
  /// `batch_size` (0 means 1000); nothing is fetched before IdsCursor::next(). A session
  /// present for the whole walk comes once (the memory store) or at least once (Redis, whose
  /// SCAN may repeat a key); one created or removed meanwhile may or may not.
  IdsCursor ids(size_t batch_size = 0) const {
    ks_ids_cursor *raw = nullptr;
    detail::check(ks_store_ids(handle_.get(), batch_size, &raw), "ks_store_ids");
    return IdsCursor(raw);
  }

  // Each user's sessions (the userField option, ConfigBuilder::set_user_field), on a store
  // with a user index (memory, Redis; else KS_RESULT_INVALID_ARGUMENT). A user id is the
  // value of the user field, a number as its JSON text ("42"): non-empty, at most 512 bytes
  // (else KS_RESULT_INVALID_ARGUMENT). They block the calling thread.

  /// Logs user `user_id` out everywhere (ks_store_destroy_user_sessions): ends every session
  /// committed under that user, but the one whose id is `except_id` (e.g. the current
  /// Session::id(), to log out the other devices); returns how many were ended. Requests of
  /// those sessions still in flight re-create nothing. After a failure part of them may be
  /// gone already; calling it again goes on.
  uint64_t destroy_user_sessions(std::string_view user_id, std::optional<std::string_view> except_id = std::nullopt) const {
    std::error_code ec;
    const uint64_t count = destroy_user_sessions(user_id, except_id, ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_store_destroy_user_sessions");
    return count;
  }
  /// As above, with failures in `ec` (then 0).
  uint64_t destroy_user_sessions(std::string_view user_id, std::optional<std::string_view> except_id, std::error_code &ec) const {
    const std::string user(user_id), except(except_id.value_or(""));
    uint64_t count = 0;
    return detail::report(ks_store_destroy_user_sessions(handle_.get(), user.c_str(), except_id ? except.c_str() : nullptr, &count), ec)
               ? count
               : 0;
  }

  /// The live sessions of user `user_id` (ks_store_user_sessions), oldest login first:
  /// those whose data still names the user in `user_field` (the engines' set_user_field()).
  /// The ids are secrets: see UserSession.
  std::vector<UserSession> user_sessions(std::string_view user_field, std::string_view user_id) const {
    std::error_code ec;
    const char *function = nullptr;
    std::vector<UserSession> sessions = list_user_sessions(user_field, user_id, ec, function);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), function);
    return sessions;
  }
  /// As above, with failures in `ec` (then the vector is empty).
  std::vector<UserSession> user_sessions(std::string_view user_field, std::string_view user_id, std::error_code &ec) const {
    const char *function = nullptr;
    return list_user_sessions(user_field, user_id, ec, function);
  }

  explicit operator bool() const noexcept { return handle_ != nullptr; }
  const ks_store *c_handle() const noexcept { return handle_.get(); }

 private:
  explicit Store(ks_store *raw) noexcept : handle_(raw) {}

  std::vector<UserSession> list_user_sessions(std::string_view user_field, std::string_view user_id, std::error_code &ec,
                                              const char *&function) const {
    const std::string field(user_field), user(user_id);
    std::vector<UserSession> sessions;
    ks_user_sessions *raw = nullptr;
    function = "ks_store_user_sessions";
    if (!detail::report(ks_store_user_sessions(handle_.get(), field.c_str(), user.c_str(), &raw), ec)) return sessions;
    const std::unique_ptr<ks_user_sessions, detail::free_user_sessions> list(raw);
    const size_t count = ks_user_sessions_count(list.get());
    sessions.reserve(count);
    for (size_t i = 0; i < count; i++) {
      const char *id = nullptr, *json = nullptr;
      size_t id_len = 0, json_len = 0;
      int64_t since_ms = 0;
      ks_result rc = ks_user_sessions_id(list.get(), i, &id, &id_len);
      if (rc == KS_RESULT_OK) rc = ks_user_sessions_get(list.get(), i, &since_ms, &json, &json_len);
      if (!detail::report(rc, ec)) {
        function = "ks_user_sessions_get";
        sessions.clear();
        return sessions;
      }
      sessions.push_back(UserSession{std::string(id, id_len),
                                     std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                         std::chrono::milliseconds(since_ms))),
                                     std::string(json, json_len)});
    }
    return sessions;
  }

  static uint32_t timeout_ms(std::chrono::milliseconds t) noexcept {
    return t.count() <= 0 ? 0 : t.count() > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(t.count());
  }

  // The C callbacks: no exception may cross into the library.
  static uint32_t custom_get(void *ctx, const char *key, size_t key_len, ks_buffer *out) noexcept {
    try {
      std::string json;
      const StoreStatus status = static_cast<StoreBackend *>(ctx)->get(std::string_view(key, key_len), json);
      if (status == StoreStatus::ok && ks_buffer_write(out, detail::bytes(json), json.size()) != KS_RESULT_OK)
        return KS_STORE_STATUS_ERROR;
      return static_cast<uint32_t>(status);
    } catch (...) {
      return KS_STORE_STATUS_ERROR;
    }
  }
  static uint32_t custom_set(void *ctx, const char *key, size_t key_len, const char *json, size_t json_len, uint64_t ttl_ms) noexcept {
    try {
      const auto ttl = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ttl_ms));
      return static_cast<uint32_t>(static_cast<StoreBackend *>(ctx)->set(std::string_view(key, key_len), std::string_view(json, json_len), ttl));
    } catch (...) {
      return KS_STORE_STATUS_ERROR;
    }
  }
  static uint32_t custom_destroy(void *ctx, const char *key, size_t key_len) noexcept {
    try {
      return static_cast<uint32_t>(static_cast<StoreBackend *>(ctx)->destroy(std::string_view(key, key_len)));
    } catch (...) {
      return KS_STORE_STATUS_ERROR;
    }
  }
  static void custom_drop(void *ctx) noexcept { delete static_cast<StoreBackend *>(ctx); }

  std::unique_ptr<ks_store, detail::free_store> handle_;
};

/// The Set-Cookie header values of a commit, in order (possibly none). Immutable.
class SetCookies {
 public:
  size_t size() const noexcept { return ks_set_cookies_count(handle_.get()); }
  bool empty() const noexcept { return size() == 0; }
  /// Value `index` (a whole header value), borrowed: valid while this object lives.
  std::string_view at(size_t index) const & {
    const char *value = nullptr;
    size_t len = 0;
    detail::check(ks_set_cookies_get(handle_.get(), index, &value, &len), "ks_set_cookies_get");
    return {value, len};
  }
  /// Every value, borrowed as at() says.
  std::vector<std::string_view> values() const & {
    std::vector<std::string_view> out;
    for (size_t i = 0; i < size(); i++) out.push_back(at(i));
    return out;
  }
  std::string_view at(size_t) const && = delete;
  std::vector<std::string_view> values() const && = delete;

  /// Takes ownership of a C handle (e.g. from a ks_commit_callback); NULL makes an empty list.
  explicit SetCookies(ks_set_cookies *raw) noexcept : handle_(raw) {}
  const ks_set_cookies *c_handle() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<ks_set_cookies, detail::free_set_cookies> handle_;
};

/// The cache headers of a response that sends the session's Set-Cookie values
/// (ks_cache_headers()): each is the value to set, or std::nullopt to leave the header as the
/// application set it (or unset).
struct CacheHeaders {
  std::optional<std::string> cache_control;  // no-cache="Set-Cookie" when the app set none
  std::optional<std::string> vary;           // the app's Vary plus Cookie, or Cookie
};

/// The cache headers to add when a response carries the session's Set-Cookie values, given the
/// application's own Cache-Control and Vary (std::nullopt or blank: not set). Throws
/// koa_session::error with KS_RESULT_INVALID_UTF8 for a value that is not UTF-8.
inline CacheHeaders cache_headers(std::optional<std::string_view> app_cache_control, std::optional<std::string_view> app_vary) {
  const std::string cache_control_copy(app_cache_control.value_or("")), vary_copy(app_vary.value_or(""));
  const char *cache_control = nullptr;
  std::string vary;
  detail::check(detail::copy_out(
                    [&](char *buf, size_t cap, size_t *len) {
                      return ks_cache_headers(app_cache_control ? cache_control_copy.c_str() : nullptr,
                                              app_vary ? vary_copy.c_str() : nullptr, &cache_control, buf, cap, len);
                    },
                    vary),
                "ks_cache_headers");
  CacheHeaders headers;
  if (cache_control) headers.cache_control = cache_control;
  if (!vary.empty()) headers.vary = std::move(vary);
  return headers;
}

/// One request's session (ks_session), from Engine::load(). One thread at a time.
class Session {
 public:
  /// Takes ownership of a C handle (e.g. from a ks_load_callback).
  explicit Session(ks_session *raw) noexcept : handle_(raw) {}

  /// The session id, borrowed: valid until regenerate() or the Session's end.
  std::string_view id() const & {
    const char *id = nullptr;
    size_t len = 0;
    detail::check(ks_session_id(handle_.get(), &id, &len), "ks_session_id");
    return {id, len};
  }
  std::string_view id() const && = delete;
  bool is_new() const noexcept { return ks_session_is_new(handle_.get()); }
  LoadReport load_report() const noexcept { return static_cast<LoadReport>(ks_session_load_report(handle_.get())); }
  bool is_destroyed() const noexcept { return ks_session_is_destroyed(handle_.get()); }

  /// The whole session data, a JSON object (with its `cookie` field).
  std::string json() const {
    std::string out;
    const ks_session *s = handle_.get();
    detail::check(detail::copy_out([s](char *buf, size_t cap, size_t *len) { return ks_session_json_copy(s, buf, cap, len); }, out),
                  "ks_session_json_copy");
    return out;
  }
  /// Replaces the data with `json`, a JSON object.
  void set_json(std::string_view json) {
    detail::check(ks_session_set_json(handle_.get(), json.data(), json.size()), "ks_session_set_json");
  }

  /// The JSON text of top-level field `key` (e.g. `3` or `"alice"` with its quotes), or
  /// std::nullopt when the session has no such field.
  std::optional<std::string> field(std::string_view key) const {
    const std::string k(key);
    const ks_session *s = handle_.get();
    std::string out;
    const ks_result rc =
        detail::copy_out([s, &k](char *buf, size_t cap, size_t *len) { return ks_session_get_field(s, k.c_str(), buf, cap, len); }, out);
    if (rc == KS_RESULT_NOT_FOUND) return std::nullopt;
    detail::check(rc, "ks_session_get_field");
    return out;
  }
  /// Sets top-level field `key` to `json_value`, any JSON value (e.g. `3`, `"alice"`).
  void set_field(std::string_view key, std::string_view json_value) {
    detail::check(ks_session_set_field(handle_.get(), std::string(key).c_str(), json_value.data(), json_value.size()), "ks_session_set_field");
  }
  void remove_field(std::string_view key) {
    detail::check(ks_session_remove_field(handle_.get(), std::string(key).c_str()), "ks_session_remove_field");
  }

  /// A new id and empty data (at login, against session fixation).
  void regenerate() { detail::check(ks_session_regenerate(handle_.get()), "ks_session_regenerate"); }
  /// Destroys the record and clears the cookies at commit (at logout).
  void mark_destroyed() { detail::check(ks_session_mark_destroyed(handle_.get()), "ks_session_mark_destroyed"); }
  void set_save(SaveMode mode) { detail::check(ks_session_set_save(handle_.get(), static_cast<uint32_t>(mode)), "ks_session_set_save"); }

  /// Ends the request: writes the store and gives the Set-Cookie values. `plain_http`: the
  /// request came over unencrypted HTTP. On failure nothing was sent and it may be retried.
  SetCookies commit(bool plain_http) {
    std::error_code ec;
    SetCookies cookies = commit(plain_http, ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_session_commit");
    return cookies;
  }
  /// As above, with failures in `ec` (then the returned SetCookies is empty).
  SetCookies commit(bool plain_http, std::error_code &ec) noexcept {
    ks_set_cookies *raw = nullptr;
    detail::report(ks_session_commit(handle_.get(), plain_http, &raw), ec);
    return SetCookies(raw);
  }

  ks_session *c_handle() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<ks_session, detail::free_session> handle_;
};

/// Settings plus a store (ks_engine): make one and share it across all server threads.
class Engine {
 public:
  Engine(const ConfigBuilder &config, const Store &store) {
    ks_engine *raw = nullptr;
    detail::check(ks_engine_new(config.c_handle(), store.c_handle(), &raw), "ks_engine_new");
    handle_.reset(raw);
  }

  /// Loads the session of a request from its raw Cookie header (empty when there is none).
  /// With a `path`, a request outside the cookie path has no session: std::nullopt.
  std::optional<Session> load(std::string_view cookie_header, std::optional<std::string_view> path = std::nullopt) const {
    std::error_code ec;
    std::optional<Session> session = load(cookie_header, path, ec);
    if (ec) detail::fail(static_cast<ks_result>(ec.value()), "ks_session_load");
    return session;
  }
  /// As above, with failures (a store error) in `ec`, then std::nullopt.
  std::optional<Session> load(std::string_view cookie_header, std::optional<std::string_view> path, std::error_code &ec) const {
    const std::string path_copy(path.value_or(""));
    ks_session *raw = nullptr;
    if (!detail::report(ks_session_load(handle_.get(), detail::bytes(cookie_header), cookie_header.size(),
                                        path ? path_copy.c_str() : nullptr, &raw),
                        ec) ||
        raw == nullptr)
      return std::nullopt;
    return Session(raw);
  }

  const ks_engine *c_handle() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<ks_engine, detail::free_engine> handle_;
};

/// Stops the library's runtime threads at the very end of a program (ks_runtime_shutdown()).
inline void runtime_shutdown() { detail::check(ks_runtime_shutdown(), "ks_runtime_shutdown"); }

}  // namespace koa_session

#endif  // KOA_SESSION_HPP
