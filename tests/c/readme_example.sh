#!/usr/bin/env bash
# Builds and runs the C and C++ examples of README.md's "Use from C" section exactly as written,
# with the README's own commands: its `cc app.c ...` and `c++ ... app.cpp ...` lines (pkg-config
# plus an rpath, for a prefix the dynamic linker does not search) against an installed copy of
# the library, run as `./app` with no LD_LIBRARY_PATH. It also checks that without the rpath
# the program does not start: the README's advice is what makes it run.
#   readme_example.sh README.md INSTALL_PREFIX OUT_DIR
set -euo pipefail
readme=$1 prefix=$2 out=$3
mkdir -p "$out"
unset LD_LIBRARY_PATH

section=$(awk '/<!-- section:c -->/{s=1} /<!-- \/section:c -->/{s=0} s' "$readme")
# The first fenced block of a language in the section.
block() {
  awk -v lang="$1" '!done && $0 == "```" lang {inblock=1; next}
       inblock && /^```$/ {inblock=0; done=1; next}
       inblock {print}' <<<"$section"
}
# The README's command line that starts with $1 (the first one that has an rpath).
command_line() {
  grep -E "^$1 .*-Wl,-rpath," <<<"$section" | head -n1
}

block c > "$out/app.c"
block cpp > "$out/app.cpp"
cc_line=$(command_line 'cc app\.c')
cxx_line=$(command_line 'c\+\+ .*app\.cpp')
for what in "C example:$out/app.c" "C++ example:$out/app.cpp"; do
  test -s "${what#*:}" || { echo "no ${what%%:*} found in the README's C section" >&2; exit 1; }
done
[ -n "$cc_line" ] || { echo "no 'cc app.c ... -Wl,-rpath,...' line in the README's C section" >&2; exit 1; }
[ -n "$cxx_line" ] || { echo "no 'c++ ... app.cpp ... -Wl,-rpath,...' line in the README's C section" >&2; exit 1; }

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# The examples are warning-free, too.
cc -std=c11 -Wall -Wextra -Werror -fsyntax-only "$out/app.c" $(pkg-config --cflags koa_session)
c++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only "$out/app.cpp" $(pkg-config --cflags koa_session)

check_output() {
  cat "$1"
  grep -Eq '^Set-Cookie: koa\.sid=[A-Za-z0-9_-]{32}; path=/; expires=.*; httponly$' "$1"
  grep -Eq '^Set-Cookie: koa\.sid\.sig=[A-Za-z0-9_-]{27}; path=/; expires=.*; httponly$' "$1"
  test "$(wc -l < "$1")" -eq 2
}

cd "$out"
echo "+ $cc_line"
bash -euo pipefail -c "$cc_line"
./app > output.txt
check_output output.txt
echo "+ $cxx_line"
bash -euo pipefail -c "$cxx_line"
./app-cpp > output-cpp.txt
check_output output-cpp.txt

# The same build without the rpath gives a program the dynamic linker cannot start (unless
# this machine has a copy of the library in its linker cache, e.g. after a system install).
if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libkoa_session\.so'; then
  rpath_arg=' -Wl,-rpath,$(pkg-config --variable=libdir koa_session)'
  no_rpath_line=${cc_line/"$rpath_arg"/}
  [ "$no_rpath_line" != "$cc_line" ] || { echo "cannot take the rpath out of: $cc_line" >&2; exit 1; }
  bash -euo pipefail -c "${no_rpath_line% -o app} -o app-no-rpath"
  if ./app-no-rpath > /dev/null 2> no-rpath.txt; then
    echo "the README example ran without its rpath: the rpath check proves nothing here" >&2
    exit 1
  fi
  grep -q 'cannot open shared object file' no-rpath.txt
fi
echo "README examples (C and C++): built with the README's commands and ran"
