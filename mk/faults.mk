# Faults: store deadlines, Redis Cluster failover and the soak.
#   test-faults   (in `make test`) the C store deadline test (plain, ASan+UBSan, valgrind)
#                 (the short failover runs are in test-core and test-node:
#                 core/tests/redis_failover.rs, node-binding/test/redis-failover.test.js)
#   failover      by hand: the full failover runs (longer load, more writes checked)
#   soak          by hand: 1,000,000 requests through Koa (MemoryStore, in-process) and
#                 through the C API, RSS sampled at start, after warm-up and at the end
# Reuses the rules and variables of mk/c.mk (KS_C_OUT, ks-lib, the C flags) and mk/node.mk.
.PHONY: test-faults test-deadline-c failover soak

TEST_TARGETS += test-faults

FAULTS_C_TESTS := test_deadline

test-deadline-c: $(addprefix $(KS_C_OUT)/plain/,$(FAULTS_C_TESTS)) $(addprefix $(KS_C_OUT)/asan/,$(FAULTS_C_TESTS))
	@set -e; for t in $(FAULTS_C_TESTS); do \
	  echo "== $$t"; $(KS_C_OUT)/plain/$$t; \
	  echo "== $$t (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(KS_C_OUT)/asan/$$t; \
	  echo "== $$t (valgrind)"; KS_TEST_SCALE_DOWN=1 $(KS_VALGRIND) $(KS_C_OUT)/plain/$$t; done

test-faults: test-deadline-c
	@echo "test-faults: store deadlines passed"

# The full failover runs: the Rust tests with longer load and their figures printed, then the
# Koa one (FAILOVER_SECONDS of load after the promotion).
FAILOVER_SECONDS ?= 20
failover: node-addon
	KS_FAILOVER_LOAD_SECONDS=$(FAILOVER_SECONDS) $(CARGO) test -p koa-session-core --test redis_failover -- --nocapture --test-threads 1
	cd $(NODE_DIR) && KS_FAILOVER_LOAD_SECONDS=$(FAILOVER_SECONDS) node --test --test-reporter=spec test/redis-failover.test.js

SOAK_REQUESTS ?= 1000000
SOAK_C_BIN := $(KS_C_OUT)/soak
$(SOAK_C_BIN): bench/soak/soak.c include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L -Iinclude -o $@ $< $(KS_LIBS)

soak: $(SOAK_C_BIN) node-addon bench-deps
	$(SOAK_C_BIN) --requests $(SOAK_REQUESTS)
	node --expose-gc --min-semi-space-size=16 bench/soak/koa.js --requests $(SOAK_REQUESTS)
