# The C API: libkoa_session (release build, once), its header check, the C and C++ tests
# (plain, ASan+UBSan, valgrind; the C++ wrapper include/koa_session.hpp as C++17), the README
# example, `make install`, and the example servers (C on libmicrohttpd, C++ on cpp-httplib)
# driven over real HTTP.
#   make test-c                 everything below
#   make header                 regenerate include/koa_session.h after changing ffi/src
#   make install PREFIX=/opt/x  stripped library, headers and koa_session.pc (DESTDIR honoured)
.PHONY: test-c ks-lib header header-check c-tests-plain c-tests-asan c-tests-valgrind \
        c-test-cpp c-test-readme c-test-install c-server c-test-http cpp-server c-test-cpp-http install

TEST_TARGETS += test-c

PREFIX ?= /usr/local
KS_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' ffi/Cargo.toml | head -n1)
# The soname's ABI number (ffi/build.rs): the major version, or 0.<minor> before 1.0.
KS_ABI := $(shell echo $(KS_VERSION) | awk -F. '{ print ($$1 == 0 ? $$1 "." $$2 : $$1) }')
KS_SONAME := libkoa_session.so.$(KS_ABI)
KS_LIB_DIR := $(CARGO_TARGET_DIR)/release
KS_STATIC := $(KS_LIB_DIR)/libkoa_session.a
KS_C_OUT := $(CARGO_TARGET_DIR)/c
CC ?= cc
CXX ?= c++
KS_CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -g -D_POSIX_C_SOURCE=200809L -Iinclude -Itests/c
KS_CXXFLAGS := -std=c++17 -Wall -Wextra -Werror -pedantic -g -Iinclude -Itests/c
KS_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
KS_LIBS := $(KS_STATIC) -lpthread -ldl -lm
KS_C_TESTS := test_api test_options test_c_store test_async test_threads test_version test_merge test_limits test_log
# Tests that need Redis: run through tests/c/with_redis.sh, which starts a throwaway server
# and a 3-master cluster for each run (test_redis stops and restarts the single server).
# test_users, test_lifetimes and test_renewal run their memory and C store parts first, then
# the same on both Redis stores.
KS_C_REDIS_TESTS := test_redis test_users test_lifetimes test_renewal
KS_WITH_REDIS := bash tests/c/with_redis.sh
KS_VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
               --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes

test-c: header-check c-tests-plain c-tests-asan c-tests-valgrind c-test-cpp c-test-readme c-test-install c-test-http \
        c-test-cpp-http
	@echo "C API: all tests passed"

# Cargo decides whether anything needs rebuilding; every C target links this one build.
ks-lib:
	$(CARGO) build --release -p koa-session-ffi

# The Rust tests of the crate: the header must match a fresh cbindgen run, and a C vtable
# store passes the store conformance suite.
header-check:
	$(CARGO) test -p koa-session-ffi

header:
	KS_UPDATE_HEADER=1 $(CARGO) test -p koa-session-ffi --test header

$(KS_C_OUT)/plain/%: tests/c/%.c $(wildcard tests/c/*.h) include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) $(KS_CFLAGS) -o $@ $< $(KS_LIBS)

$(KS_C_OUT)/asan/%: tests/c/%.c $(wildcard tests/c/*.h) include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) $(KS_CFLAGS) $(KS_SAN) -o $@ $< $(KS_LIBS)

c-tests-plain: $(addprefix $(KS_C_OUT)/plain/,$(KS_C_TESTS) $(KS_C_REDIS_TESTS))
	@set -e; for t in $(KS_C_TESTS); do echo "== $$t"; $(KS_C_OUT)/plain/$$t; done
	@set -e; for t in $(KS_C_REDIS_TESTS); do echo "== $$t"; $(KS_WITH_REDIS) $(KS_C_OUT)/plain/$$t; done

# Full-size runs under the sanitizers; valgrind (~50x slower) runs the stress loops scaled down.
c-tests-asan: $(addprefix $(KS_C_OUT)/asan/,$(KS_C_TESTS) $(KS_C_REDIS_TESTS) test_hpp)
	@set -e; for t in $(KS_C_TESTS) test_hpp $(KS_C_REDIS_TESTS); do echo "== $$t (ASan+UBSan)"; \
	  w=; case " $(KS_C_REDIS_TESTS) " in *" $$t "*) w="$(KS_WITH_REDIS)";; esac; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $$w $(KS_C_OUT)/asan/$$t; done

c-tests-valgrind: $(addprefix $(KS_C_OUT)/plain/,$(KS_C_TESTS) $(KS_C_REDIS_TESTS) test_cpp test_hpp)
	@set -e; for t in $(KS_C_TESTS) test_cpp test_hpp $(KS_C_REDIS_TESTS); do echo "== $$t (valgrind)"; \
	  w=; case " $(KS_C_REDIS_TESTS) " in *" $$t "*) w="$(KS_WITH_REDIS)";; esac; \
	  KS_TEST_SCALE_DOWN=1 $$w $(KS_VALGRIND) $(KS_C_OUT)/plain/$$t; done

$(KS_C_OUT)/plain/test_cpp: tests/c/test_cpp.cpp include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CXX) $(KS_CXXFLAGS) -o $@ $< $(KS_LIBS)

# The C++ wrapper: its own test, plainly here and under the sanitizers and valgrind above.
$(KS_C_OUT)/plain/test_hpp: tests/c/test_hpp.cpp include/koa_session.hpp include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CXX) $(KS_CXXFLAGS) -o $@ $< $(KS_LIBS)

$(KS_C_OUT)/asan/test_hpp: tests/c/test_hpp.cpp include/koa_session.hpp include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CXX) $(KS_CXXFLAGS) $(KS_SAN) -o $@ $< $(KS_LIBS)

c-test-cpp: $(KS_C_OUT)/plain/test_cpp $(KS_C_OUT)/plain/test_hpp
	$(KS_C_OUT)/plain/test_cpp
	$(KS_C_OUT)/plain/test_hpp

# Installs into a scratch prefix and checks what landed: stripped libraries (no .debug_*
# section left; the sizes are printed) that still link (the C++ test against the installed
# .a), the soname links, both headers, the pkg-config file.
# c-test-readme then builds and runs the README's example exactly as written, the way the
# README says to (pkg-config, and an rpath for a prefix the dynamic linker does not search).
KS_STAGE := $(KS_C_OUT)/stage
c-test-install: ks-lib
	rm -rf $(KS_STAGE)
	$(MAKE) --no-print-directory install PREFIX=$(KS_STAGE)
	test -f $(KS_STAGE)/lib/libkoa_session.so -a -f $(KS_STAGE)/lib/libkoa_session.a
	@echo "sizes (build -> installed):"; for f in libkoa_session.so:libkoa_session.so.$(KS_VERSION) libkoa_session.a:libkoa_session.a; do \
	  printf '  %-22s %6s -> %6s\n' "$${f%%:*}" "$$(du -h $(KS_LIB_DIR)/$${f%%:*} | cut -f1)" "$$(du -h $(KS_STAGE)/lib/$${f##*:} | cut -f1)"; done
	! LC_ALL=C readelf -S --wide $(KS_STAGE)/lib/libkoa_session.so.$(KS_VERSION) | grep -F ' .debug_'
	! LC_ALL=C readelf -S --wide $(KS_STAGE)/lib/libkoa_session.a | grep -E ' \.(debug_|llvmbc)'
	! LC_ALL=C readelf -S --wide $(KS_STAGE)/lib/libkoa_session.so.$(KS_VERSION) | grep -F ' .symtab '
	LC_ALL=C nm -D --defined-only $(KS_STAGE)/lib/libkoa_session.so.$(KS_VERSION) | grep -qw ks_session_load
	$(CXX) -I$(KS_STAGE)/include $(KS_CXXFLAGS) -o $(KS_C_OUT)/test_hpp_installed_static tests/c/test_hpp.cpp \
	  $(KS_STAGE)/lib/libkoa_session.a -lpthread -ldl -lm
	$(KS_C_OUT)/test_hpp_installed_static
	test "$$(readlink $(KS_STAGE)/lib/libkoa_session.so)" = libkoa_session.so.$(KS_VERSION)
	test "$$(readlink $(KS_STAGE)/lib/$(KS_SONAME))" = libkoa_session.so.$(KS_VERSION)
	LC_ALL=C readelf -d $(KS_STAGE)/lib/libkoa_session.so.$(KS_VERSION) | grep -F '(SONAME)' | grep -qF '[$(KS_SONAME)]'
	cmp include/koa_session.h $(KS_STAGE)/include/koa_session.h
	cmp include/koa_session.hpp $(KS_STAGE)/include/koa_session.hpp
	PKG_CONFIG_PATH=$(KS_STAGE)/lib/pkgconfig pkg-config --exists --print-errors koa_session
	test "$$(PKG_CONFIG_PATH=$(KS_STAGE)/lib/pkgconfig pkg-config --modversion koa_session)" = "$(KS_VERSION)"

c-test-readme: c-test-install
	bash tests/c/readme_example.sh README.md $(KS_STAGE) $(KS_C_OUT)/readme
	LC_ALL=C readelf -d $(KS_C_OUT)/readme/app | grep -F '(NEEDED)' | grep -qF '[$(KS_SONAME)]'
	LC_ALL=C readelf -d $(KS_C_OUT)/readme/app | grep -E '\((RUNPATH|RPATH)\)' | grep -qF '[$(KS_STAGE)/lib]'

$(KS_C_OUT)/c-server: examples/c-server/server.c include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) $(KS_CFLAGS) -o $@ $< $$(pkg-config --cflags libmicrohttpd) $$(pkg-config --libs libmicrohttpd) $(KS_LIBS)

c-server: $(KS_C_OUT)/c-server

c-test-http: $(KS_C_OUT)/c-server
	python3 tests/c/http_test.py $(KS_C_OUT)/c-server
	$(KS_WITH_REDIS) --no-cluster sh -c 'python3 tests/c/http_test.py $(KS_C_OUT)/c-server --redis "$$KS_TEST_REDIS_URL" --redis-prefix c-server:'

# The C++ example server (koa_session.hpp on cpp-httplib, Debian's libcpp-httplib-dev) through
# the same HTTP test: its own cookie name on the memory store, the default one on Redis.
$(KS_C_OUT)/cpp-server: examples/cpp-server/server.cpp include/koa_session.hpp include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CXX) $(KS_CXXFLAGS) -o $@ $< $$(pkg-config --cflags cpp-httplib) $$(pkg-config --libs cpp-httplib) $(KS_LIBS)

cpp-server: $(KS_C_OUT)/cpp-server

c-test-cpp-http: $(KS_C_OUT)/cpp-server
	python3 tests/c/http_test.py $(KS_C_OUT)/cpp-server --cookie-name cpp.sid
	$(KS_WITH_REDIS) --no-cluster sh -c 'python3 tests/c/http_test.py $(KS_C_OUT)/cpp-server --redis "$$KS_TEST_REDIS_URL" --redis-prefix cpp-server:'

# The release build keeps line tables (workspace profile, debug = 1) for the tests' backtraces;
# the installed copies are stripped: the .so to its dynamic symbols, the .a of debug sections
# (its symbol tables are what the linker needs) and of the LLVM bitcode rustc embeds for Rust
# LTO, which no C or C++ linker reads (most of its size). No split debug file is installed: the
# unstripped libraries stay in target/release for whoever debugs the library, and
# distribution packaging splits debug info its own way.
STRIP ?= strip
install: ks-lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 $(KS_STATIC) $(DESTDIR)$(PREFIX)/lib/libkoa_session.a
	$(STRIP) --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd $(DESTDIR)$(PREFIX)/lib/libkoa_session.a
	install -m 755 $(KS_LIB_DIR)/libkoa_session.so $(DESTDIR)$(PREFIX)/lib/libkoa_session.so.$(KS_VERSION)
	$(STRIP) --strip-unneeded $(DESTDIR)$(PREFIX)/lib/libkoa_session.so.$(KS_VERSION)
	ln -sf libkoa_session.so.$(KS_VERSION) $(DESTDIR)$(PREFIX)/lib/$(KS_SONAME)
	ln -sf libkoa_session.so.$(KS_VERSION) $(DESTDIR)$(PREFIX)/lib/libkoa_session.so
	install -m 644 include/koa_session.h $(DESTDIR)$(PREFIX)/include/koa_session.h
	install -m 644 include/koa_session.hpp $(DESTDIR)$(PREFIX)/include/koa_session.hpp
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(KS_VERSION)|' ffi/koa_session.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/koa_session.pc
