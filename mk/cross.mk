# Sessions shared between Koa and native servers: the Koa example app (koa-session-ts +
# RedisStore) and the C example server (libkoa_session + ks_redis_store_new), then the C++ one
# (koa_session.hpp on cpp-httplib), each on one throwaway redis-server with the same keys,
# cookie name, cookie options and key prefix (tests/cross-runtime/).
#   make test-cross
# Reuses the builds of mk/c.mk (c-server, cpp-server: they link the release C library) and
# mk/node.mk (node-addon: the release addon; demo-deps: npm ci for examples/koa-app).
.PHONY: test-cross
TEST_TARGETS += test-cross

test-cross: c-server cpp-server node-addon demo-deps
	python3 tests/cross-runtime/test_koa_c.py $(KS_C_OUT)/c-server $(DEMO_DIR)/app.js C
	python3 tests/cross-runtime/test_koa_c.py $(KS_C_OUT)/cpp-server $(DEMO_DIR)/app.js C++
