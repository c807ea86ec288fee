// A small HTTP server on cpp-httplib that keeps Koa-compatible sessions with koa_session.hpp:
// the routes and answers of the C example (examples/c-server): a visit counter, a login that
// regenerates the session, and a logout that destroys it. Sessions live in the memory store,
// or in Redis with --redis, where a Koa app with the same Redis, prefix, cookie name and keys
// shares them (examples/koa-app). Every server thread shares one engine.
//
//   cpp-server [--port N] [--keys KEY1,KEY2,...] [--cookie-name NAME] [--max-age-ms MS]
//              [--same-site strict|lax|none] [--redis URL [--redis-prefix PREFIX]]
//   env: KS_PORT, KS_KEYS, KS_COOKIE_NAME, KS_MAX_AGE_MS, KS_SAME_SITE, KS_REDIS_URL,
//   KS_REDIS_PREFIX (the options win). Port 0 picks a free port. It listens on 127.0.0.1 only
//   and prints "listening on http://127.0.0.1:PORT" once ready.
//
//   GET  /                 counts this visitor's visits
//   GET  /whoami           shows the session without changing it
//   POST /login?user=NAME  starts a fresh session (new id) for NAME (letters, digits, - _)
//   POST /logout           destroys the session and clears its cookies
#include "koa_session.hpp"

#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace ks = koa_session;

namespace {

struct Route {
  const char *method;
  void (*handle)(ks::Session &, const httplib::Request &, std::string &body);
};

// The value of a string field without its JSON quotes (user names are restricted to
// characters that need no escaping), or `fallback`.
std::string string_field(const ks::Session &s, std::string_view key, const char *fallback) {
  std::optional<std::string> v = s.field(key);
  if (!v || v->size() < 2 || v->front() != '"') return fallback;
  return v->substr(1, v->size() - 2);
}

long number_field(const ks::Session &s, std::string_view key) {
  std::optional<std::string> v = s.field(key);
  return v ? std::strtol(v->c_str(), nullptr, 10) : 0;
}

bool valid_name(const std::string &name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

std::string visit_text(const ks::Session &s, long views) {
  return "views: " + std::to_string(views) + "\nuser: " + string_field(s, "user", "anonymous") + "\n";
}

const std::map<std::string, Route> routes = {
    {"/",
     {"GET",
      [](ks::Session &s, const httplib::Request &, std::string &body) {
        const long views = number_field(s, "views") + 1;
        s.set_field("views", std::to_string(views));
        body = visit_text(s, views);
      }}},
    {"/whoami", {"GET", [](ks::Session &s, const httplib::Request &, std::string &body) { body = visit_text(s, number_field(s, "views")); }}},
    {"/login",
     {"POST",
      [](ks::Session &s, const httplib::Request &req, std::string &body) {
        // A new id at login, so an id planted before login is worth nothing after it.
        const std::string user = req.get_param_value("user");
        s.regenerate();
        s.set_field("user", "\"" + user + "\"");
        body = "logged in as " + user + "\n";
      }}},
    {"/logout",
     {"POST",
      [](ks::Session &s, const httplib::Request &, std::string &body) {
        s.mark_destroyed();
        body = "logged out\n";
      }}},
};

// One request: load the session, run the route, commit, send the Set-Cookie values. A
// session failure answers 500 with the code's text; the log also gets the library's detail
// (it may name internal addresses).
void serve(const ks::Engine &engine, const Route &route, const httplib::Request &req, httplib::Response &res) {
  if (req.path == "/login" && !valid_name(req.get_param_value("user"))) {
    res.status = 400;
    res.set_content("user must be 1-32 letters, digits, '-' or '_'\n", "text/plain; charset=utf-8");
    return;
  }
  const char *step = "load";
  try {
    std::optional<ks::Session> session = engine.load(req.get_header_value("Cookie"), req.path);
    if (!session) {
      res.set_content("no session here\n", "text/plain; charset=utf-8");
      return;
    }
    if (session->load_report() == ks::LoadReport::corrupt) std::cerr << "warning: a corrupt session record was replaced\n";
    std::string body;
    step = req.path.c_str();
    route.handle(*session, req, body);
    step = "commit";
    ks::SetCookies cookies = session->commit(/* plain_http */ true);
    for (std::string_view value : cookies.values()) res.set_header("Set-Cookie", std::string(value));
    if (!cookies.empty()) {
      // Keeps shared caches from handing the cookie to another visitor; this server sets no
      // Cache-Control or Vary of its own (one that does passes them, and sets what comes back).
      ks::CacheHeaders cache = ks::cache_headers(std::nullopt, std::nullopt);
      if (cache.cache_control) res.set_header("Cache-Control", *cache.cache_control);
      if (cache.vary) res.set_header("Vary", *cache.vary);
    }
    res.set_content(body, "text/plain; charset=utf-8");
  } catch (const ks::error &e) {
    std::cerr << "session error in " << step << ": " << e.what() << "\n";
    res.status = 500;
    res.set_content(std::string("session error in ") + step + ": " + e.code().message() + "\n", "text/plain; charset=utf-8");
  }
}

const char *option(int argc, char **argv, const char *name, const char *env) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return std::getenv(env);
}

// Cookie settings; to share sessions with a Koa app, give both the same keys, cookie name and
// cookie options (the Koa example uses maxAge 30 min and sameSite lax).
ks::ConfigBuilder configure(const char *keys, const char *cookie_name, const char *max_age_ms, const char *same_site) {
  ks::ConfigBuilder config;
  if (cookie_name) config.set_cookie_name(cookie_name);
  if (max_age_ms) {
    char *end = nullptr;
    const long long ms = std::strtoll(max_age_ms, &end, 10);
    if (!*max_age_ms || *end) throw std::invalid_argument(std::string("invalid max age: ") + max_age_ms);
    config.set_max_age(std::chrono::milliseconds(ms));
  }
  if (same_site) {
    static const std::map<std::string, ks::SameSite> values = {
        {"strict", ks::SameSite::strict}, {"lax", ks::SameSite::lax}, {"none", ks::SameSite::none}};
    auto it = values.find(same_site);
    if (it == values.end()) throw std::invalid_argument(std::string("invalid same-site value: ") + same_site + " (strict, lax or none)");
    config.set_same_site(it->second);
  }
  if (!keys || !*keys) {
    std::cerr << "warning: no --keys / KS_KEYS given: session cookies are not signed\n";
    return config;
  }
  std::string_view rest = keys;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (std::string_view key = rest.substr(0, comma); !key.empty()) config.add_key(key);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return config;
}

// The memory store, or a Redis store when a URL is given. Redis is connected in the
// background: the server starts even while Redis is away, and requests get a store error
// (HTTP 500) until it answers.
ks::Store make_store(const char *redis_url, const char *redis_prefix) {
  if (!redis_url || !*redis_url) {
    if (redis_prefix) std::cerr << "warning: --redis-prefix has no effect without --redis\n";
    return ks::Store::memory();
  }
  ks::Store store = redis_prefix ? ks::Store::redis(redis_url, std::string_view(redis_prefix)) : ks::Store::redis(redis_url);
  std::cerr << "sessions in Redis (key prefix \"" << (redis_prefix ? redis_prefix : "koa:sess:") << "\")\n";
  return store;
}

int usage(const char *argv0) {
  std::cerr << "usage: " << argv0 << " [--port N] [--keys KEY1,KEY2,...] [--cookie-name NAME] [--max-age-ms MS]\n"
            << "          [--same-site strict|lax|none] [--redis URL [--redis-prefix PREFIX]]\n";
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  static const char *const known[] = {"--port", "--keys", "--cookie-name", "--max-age-ms", "--same-site", "--redis", "--redis-prefix"};
  for (int i = 1; i < argc; i += 2) {
    bool ok = false;
    for (const char *k : known) ok |= std::strcmp(argv[i], k) == 0;
    if (!ok || i + 1 >= argc) return usage(argv[0]);
  }
  const char *port_s = option(argc, argv, "--port", "KS_PORT");
  char *end = nullptr;
  const long port = port_s ? std::strtol(port_s, &end, 10) : 8080;
  if ((port_s && *end) || port < 0 || port > 65535) {
    std::cerr << "invalid port: " << port_s << "\n";
    return 2;
  }

  // Block the stop signals before any thread starts (the library's and the server's), so
  // only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::optional<ks::Engine> engine;
  try {
    engine.emplace(configure(option(argc, argv, "--keys", "KS_KEYS"), option(argc, argv, "--cookie-name", "KS_COOKIE_NAME"),
                             option(argc, argv, "--max-age-ms", "KS_MAX_AGE_MS"), option(argc, argv, "--same-site", "KS_SAME_SITE")),
                   make_store(option(argc, argv, "--redis", "KS_REDIS_URL"), option(argc, argv, "--redis-prefix", "KS_REDIS_PREFIX")));
  } catch (const std::exception &e) {
    std::cerr << "cannot set up sessions: " << e.what() << "\n";
    return 1;
  }

  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  // 404 for unknown paths and 405 for a known path with another method, before routing.
  server.set_pre_routing_handler([](const httplib::Request &req, httplib::Response &res) {
    auto route = routes.find(req.path);
    if (route != routes.end() && req.method == route->second.method) return httplib::Server::HandlerResponse::Unhandled;
    res.status = route == routes.end() ? 404 : 405;
    res.set_content(route == routes.end() ? "not found\n" : "method not allowed\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  for (const auto &[path, route] : routes) {
    auto handler = [&engine, &r = route](const httplib::Request &req, httplib::Response &res) { serve(*engine, r, req, res); };
    if (std::strcmp(route.method, "GET") == 0)
      server.Get(path, handler);
    else
      server.Post(path, handler);
  }

  const int bound = port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", int(port)) ? int(port) : -1);
  if (bound <= 0) {
    std::cerr << "cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  std::thread listener([&server] { server.listen_after_bind(); });
  std::printf("listening on http://127.0.0.1:%d\n", bound);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  server.stop();
  listener.join();
  engine.reset();
  ks::runtime_shutdown();
  std::cerr << "stopped (signal " << sig << ")\n";
  return 0;
}
