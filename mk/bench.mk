# Benchmarks (run by hand; never timed in tests). `make test` only runs their smoke runs.
#   bench-c            the C API benchmark, full run (~1-2 min, quiet machine); options via
#                      BENCH_C_ARGS, e.g. make bench-c BENCH_C_ARGS="--cases read --rounds 3"
#   bench-c-smoke      the same program, a run of about a second: fails on any error
#   test-bench-smoke   the C smoke plus the Node smokes of bench/koa (HTTP and in-process) and
#                      bench/memory
.PHONY: bench-c bench-c-smoke bench-deps test-bench-smoke

TEST_TARGETS += test-bench-smoke

# Own names: this file is read before c.mk, and prerequisites are expanded as they are read.
BENCH_C_OUT := $(CARGO_TARGET_DIR)/bench-c
BENCH_C_BIN := $(BENCH_C_OUT)/bench
BENCH_C_LIBS := $(CARGO_TARGET_DIR)/release/libkoa_session.a -lpthread -ldl -lm
BENCH_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L -Iinclude
BENCH_STAMP := bench/node_modules/.package-lock.json

# ks-lib (mk/c.mk) is the one release build of libkoa_session; cargo decides if it is stale.
$(BENCH_C_BIN): bench/c/bench.c include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_C_LIBS)

bench-c: $(BENCH_C_BIN)
	$(BENCH_C_BIN) $(BENCH_C_ARGS)

bench-c-smoke: $(BENCH_C_BIN)
	$(BENCH_C_BIN) --smoke

# npm ci writes node_modules/.package-lock.json; touching it marks the install as current.
$(BENCH_STAMP): bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	touch $@

bench-deps: $(BENCH_STAMP)

test-bench-smoke: bench-c-smoke bench-deps node-addon
	node bench/koa/run.js --smoke
	node bench/koa/in-process.js --smoke
	node --expose-gc bench/memory/run.js --smoke
	@echo "test-bench-smoke: C, Koa (HTTP and in-process) and memory benchmarks start and complete"
