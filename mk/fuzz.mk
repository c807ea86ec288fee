# Coverage-guided fuzzing with libFuzzer on the stable toolchain (fuzz/README.md).
#   make fuzz FUZZ_SECONDS=N   build, run every target N seconds (default 60), merge what adds
#                              coverage into fuzz/corpus/<target>/, and check the C API
#                              target's corpus frees everything (valgrind)
#   make fuzz-build            the instrumented libFuzzer binaries
#   make test-fuzz-replay      (in `make test`) every corpus input and crash regression through
#                              the same invariants, with plain `cargo test`: no engine, seconds
# A crash is written to fuzz/artifacts/<target>/; fix it, then move the input to
# fuzz/regressions/<target>/ so `make test` keeps replaying it.
.PHONY: fuzz fuzz-build fuzz-tools test-fuzz-replay fuzz-c-api-leaks

TEST_TARGETS += test-fuzz-replay

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := cookie_header set_cookie session_record request_machine c_api node_args merge
CARGO_FUZZ_VERSION := 0.13.2
# The fuzz crate is its own workspace with its own Cargo.lock: it builds in its own target
# directory, so its artifacts and the main workspace's never overwrite each other (the same
# crate resolved against two lockfiles), and instrumented builds never invalidate ordinary ones.
FUZZ_TARGET_DIR := $(CARGO_TARGET_DIR)/fuzz
FUZZ_BIN := $(FUZZ_TARGET_DIR)/x86_64-unknown-linux-gnu/release
# Keep the corpus modest: inputs past 4 KiB teach little here and bloat the repository.
FUZZ_FLAGS ?= -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

test-fuzz-replay:
	cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) $(CARGO) test --locked

fuzz-tools:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)

# --sanitizer none: the coverage instrumentation (-Cpasses=sancov-module and the
# -Cllvm-args=-sanitizer-coverage-* flags) is stable; AddressSanitizer (-Zsanitizer) is not.
fuzz-build: fuzz-tools
	cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) $(CARGO) fuzz build --sanitizer none --features libfuzzer --release

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  mkdir -p fuzz/artifacts/$$t fuzz/work/$$t; \
	  $(FUZZ_BIN)/$$t fuzz/work/$$t fuzz/corpus/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=fuzz/artifacts/$$t/ 2>&1 | tail -n 12; \
	  test $${PIPESTATUS[0]} -eq 0; \
	  $(MAKE) --no-print-directory fuzz-merge-$$t; \
	done
	$(MAKE) --no-print-directory fuzz-c-api-leaks

# The checked-in corpus stays small: the seeds plus a set-cover merge (over coverage edges,
# not hit counts) of the old corpus and this run's finds, which keeps the edge coverage of
# the whole work corpus in a fraction of its files. The full work corpus stays in fuzz/work/.
fuzz-merge-%:
	rm -rf fuzz/work/$*.min && mkdir -p fuzz/work/$*.min
	$(FUZZ_BIN)/$* -set_cover_merge=1 -use_counters=0 -use_value_profile=0 -max_len=4096 \
	  fuzz/work/$*.min fuzz/corpus/$* fuzz/work/$* 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true
	find fuzz/corpus/$* -type f ! -name 'seed-*' -delete
	for s in fuzz/corpus/$*/seed-*; do rm -f fuzz/work/$*.min/$$(sha1sum "$$s" | cut -c1-40); done
	cp fuzz/work/$*.min/* fuzz/corpus/$*/

# The C API target's corpus under valgrind: every handle it makes is freed.
fuzz-c-api-leaks:
	cd fuzz && CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) $(CARGO) build --locked --example replay
	valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
	  --errors-for-leak-kinds=definite,indirect,possible \
	  $(FUZZ_TARGET_DIR)/debug/examples/replay c_api
