# Sessions shared between Koa and C: the Koa example app (koa-session-ts + RedisStore) and the
# C example server (libkoa_session + ks_redis_store_new) on one throwaway redis-server, with
# the same keys, cookie name, cookie options and key prefix (tests/cross-runtime/).
#   make test-cross
# Reuses the builds of mk/c.mk (c-server, which links the release C library) and mk/node.mk
# (node-addon: the release addon; demo-deps: npm ci for examples/koa-app).
.PHONY: test-cross
TEST_TARGETS += test-cross

test-cross: c-server node-addon demo-deps
	python3 tests/cross-runtime/test_koa_c.py $(KS_C_OUT)/c-server $(DEMO_DIR)/app.js
