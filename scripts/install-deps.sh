#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine (as root). Idempotent and
# quick when everything is present; without root it only reports what is missing.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v g++ >/dev/null || need_apt+=(g++)
[ -f /usr/include/microhttpd.h ] || need_apt+=(libmicrohttpd-dev)
[ -f /usr/include/httplib.h ] || need_apt+=(libcpp-httplib-dev)  # the C++ example server
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)  # drives the C example server over HTTP
command -v openssl >/dev/null || need_apt+=(openssl)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v chromium >/dev/null || need_apt+=(chromium)  # the browser test (puppeteer-core drives it)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing (install them, or run as root on Debian): ${need_apt[*]}" >&2
    exit 1
  fi
fi
for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install Rust (rustup) and Node.js 20+" >&2; exit 1; }
done
