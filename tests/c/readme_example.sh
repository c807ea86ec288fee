#!/usr/bin/env bash
# Builds and runs the C example of README.md's "Use from C" section exactly as written, the
# way the README says to build it (pkg-config against an installed copy of the library).
#   readme_example.sh README.md INSTALL_PREFIX OUT_DIR
set -euo pipefail
readme=$1 prefix=$2 out=$3
mkdir -p "$out"
# The first ```c block between the section markers.
awk '/<!-- section:c -->/{s=1} /<!-- \/section:c -->/{s=0}
     s && /^```c$/ && !done {inblock=1; next}
     inblock && /^```$/ {inblock=0; done=1; next}
     inblock {print}' "$readme" > "$out/app.c"
test -s "$out/app.c" || { echo "no C example found in the README's C section" >&2; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror "$out/app.c" $(pkg-config --cflags --libs koa_session) -o "$out/app"
LD_LIBRARY_PATH="$prefix/lib" "$out/app" > "$out/output.txt"
cat "$out/output.txt"
grep -Eq '^Set-Cookie: koa\.sid=[A-Za-z0-9_-]{32}; path=/; expires=.*; httponly$' "$out/output.txt"
grep -Eq '^Set-Cookie: koa\.sid\.sig=[A-Za-z0-9_-]{27}; path=/; expires=.*; httponly$' "$out/output.txt"
test "$(wc -l < "$out/output.txt")" -eq 2
echo "README example: compiled with pkg-config and ran"
