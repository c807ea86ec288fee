#!/usr/bin/env bash
# The fresh-app install test (make test-npm-install), on the tarballs of `make npm-pack`:
#   1. the tarballs hold what they should: no Rust sources, README.md and LICENSE, a stripped
#      .node under 6 MB in the platform package;
#   2. @arethetypeswrong/cli finds no problem in the main tarball;
#   3. a fresh app (koa and the TypeScript packages from tests/npm-install/package-lock.json)
#      installs both tarballs with a plain `npm install`, with cargo and rustc off PATH;
#   4. tsc (strict, module nodenext) checks and compiles the .mts, .cts and // @ts-check apps,
#      and a second program that declares defer typing;
#   5. every app (CommonJS, ESM, compiled TypeScript, defer) runs and is driven over HTTP;
#   6. without the platform package, require() names the package that is missing.
# usage: tests/npm-install/run.sh <dir with the tarballs>
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$(cd "$1" && pwd)
NODE_BINDING=$ROOT/node-binding
VERSION=$(node -p "require('$NODE_BINDING/package.json').version")
TUPLE=linux-x64-gnu
MAIN_TGZ=$OUT/koa-session-ts-$VERSION.tgz
PLATFORM_TGZ=$OUT/koa-session-ts-$TUPLE-$VERSION.tgz
MAX_ADDON_BYTES=$((6 * 1024 * 1024))

say() { echo "test-npm-install: $*"; }
die() { echo "test-npm-install: FAILED: $*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/koa-session-ts-fresh-app.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- 1. tarball contents -------------------------------------------------------------------
for t in "$MAIN_TGZ" "$PLATFORM_TGZ"; do [ -f "$t" ] || die "$t is missing (make npm-pack)"; done
main_files=$(tar -tzf "$MAIN_TGZ")
if grep -E '\.rs$|(^|/)Cargo\.toml$|(^|/)build\.rs$|\.node$' <<<"$main_files"; then
  die "the main tarball ships Rust sources or a binary (listed above)"
fi
for f in package/README.md package/LICENSE package/package.json package/lib/index.js package/loader/index.js \
         package/index.d.ts package/index.d.mts package/index.mjs; do
  grep -qx "$f" <<<"$main_files" || die "the main tarball lacks $f"
done
tar -xzf "$PLATFORM_TGZ" -C "$WORK"
addon=$WORK/package/koa-session.$TUPLE.node
[ -f "$addon" ] || die "the platform tarball lacks koa-session.$TUPLE.node"
[ -f "$WORK/package/LICENSE" ] || die "the platform tarball lacks LICENSE"
addon_bytes=$(stat -c %s "$addon")
[ "$addon_bytes" -lt "$MAX_ADDON_BYTES" ] || die "the .node is $addon_bytes bytes, over $MAX_ADDON_BYTES"
# Stripped: no symbol table and no debug sections (what `file` calls "stripped").
sections=$(readelf -SW "$addon")
if grep -E '\.symtab|\.debug_' <<<"$sections"; then die "the .node still has the sections above"; fi
say "main tarball $(stat -c %s "$MAIN_TGZ") bytes, $(wc -l <<<"$main_files") files, no .rs/Cargo.toml/.node, README.md + LICENSE present"
say "platform tarball $(stat -c %s "$PLATFORM_TGZ") bytes; koa-session.$TUPLE.node $addon_bytes bytes, no .symtab, no .debug_* sections"
rm -rf "$WORK/package"

# --- 2. attw ---------------------------------------------------------------------------------
(cd "$NODE_BINDING" && npx --no-install attw --format table --no-color --no-definitely-typed "$MAIN_TGZ") || die "@arethetypeswrong/cli reported problems"
say "attw: no problems"

# --- 3. a fresh app, without cargo ----------------------------------------------------------
clean_path=
IFS=: read -ra path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
  [ -n "$d" ] || continue
  case "$d" in */.cargo/bin) continue ;; esac
  if [ -e "$d/cargo" ] || [ -e "$d/rustc" ]; then continue; fi
  clean_path=${clean_path:+$clean_path:}$d
done
# Everything below runs in this environment: no Rust toolchain, no addon override.
run() { env -u CARGO -u CARGO_HOME -u RUSTUP_HOME -u RUSTUP_TOOLCHAIN -u CARGO_TARGET_DIR -u NAPI_RS_NATIVE_LIBRARY_PATH PATH="$clean_path" "$@"; }
if run bash -c 'command -v cargo || command -v rustc'; then die "cargo or rustc is still on PATH (above)"; fi
run bash -c 'command -v node >/dev/null && command -v npm >/dev/null' || die "node or npm is not on the PATH without cargo: $clean_path"
say "PATH without cargo/rustc: $clean_path (command -v cargo fails)"

APP=$WORK/app
mkdir -p "$APP"
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/drive.mjs" "$HERE"/app/* "$APP/"
cd "$APP"
run npm ci --no-audit --no-fund --loglevel=error
run npm install --no-audit --no-fund --loglevel=error "$MAIN_TGZ" "$PLATFORM_TGZ"
[ -d node_modules/koa-session-ts ] && [ ! -L node_modules/koa-session-ts ] || die "koa-session-ts is not installed as a copy"
[ -f "node_modules/koa-session-ts-$TUPLE/koa-session.$TUPLE.node" ] || die "the platform package is not installed"
[ ! -e node_modules/koa-session-ts/native ] || die "the main package holds a native/ directory"
say "npm install of both tarballs: $(run node -p "require('koa-session-ts/package.json').version") + $(run node -p "require('koa-session-ts-$TUPLE/package.json').name")"

# --- 4. types ---------------------------------------------------------------------------------
run npx --no-install tsc -p tsconfig.json
say "tsc (strict, nodenext): app.mts, app.cts and // @ts-check app-ts-check.js compile"
run npx --no-install tsc -p tsconfig.defer.json
say "tsc (strict, nodenext): defer.mts + defer.cts with TypeOptions { defer: true } compile (ctx.session is a Promise)"

# --- 5. the apps over HTTP --------------------------------------------------------------------
run node drive.mjs app.cjs cjs
run node drive.mjs app.mjs esm
run node drive.mjs app-ts-check.js ts-check
run node drive.mjs dist/app.mjs mts
run node drive.mjs dist/app.cjs cts
run node drive.mjs dist-defer/defer.mjs defer-mts
run node drive.mjs dist-defer/defer.cjs defer-cts

# --- 6. the load error without the platform package ---------------------------------------------
mv "node_modules/koa-session-ts-$TUPLE" "$WORK/moved-away"
if message=$(run node -e "require('koa-session-ts')" 2>&1); then die "require() worked without the platform package"; fi
expected="koa-session-ts: no native binding for $TUPLE: the optional dependency koa-session-ts-$TUPLE is not installed"
grep -qF "$expected" <<<"$message" || die "unexpected load error: $message"
say "without koa-session-ts-$TUPLE, require() says: $(grep -oF "$expected" <<<"$message")"
say "passed"
