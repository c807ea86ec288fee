# The cross-runtime conformance suite (tests/conformance/, see its README.md): every scenario
# runs through the Koa middleware (koa-runner.js, with the addon of mk/node.mk) and through the
# C API (c_runner, linked with the release library of mk/c.mk, under ASan+UBSan), each with a
# recording store; the two traces must be identical, and equal to the scenario's `expect`.
#   make test-conformance
#   python3 tests/conformance/compare.py --c-runner target/c/conformance/c_runner --only NAME --show
.PHONY: test-conformance
TEST_TARGETS += test-conformance

KS_CONF_RUNNER := $(KS_C_OUT)/conformance/c_runner

$(KS_CONF_RUNNER): tests/conformance/c_runner.c include/koa_session.h ks-lib
	@mkdir -p $(@D)
	$(CC) $(KS_CFLAGS) $(KS_SAN) -o $@ $< $(KS_LIBS)

test-conformance: $(KS_CONF_RUNNER) node-addon
	python3 tests/conformance/test_compare.py
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  python3 tests/conformance/compare.py --c-runner $(KS_CONF_RUNNER)
