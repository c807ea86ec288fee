# The Rust core: unit, table-driven, property and store-conformance tests.
.PHONY: test-core
TEST_TARGETS += test-core
test-core:
	$(CARGO) test -p koa-session-core
