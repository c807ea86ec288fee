# The Redis test harness script (used by the Node and C suites); RedisStore's own tests run
# in test-core (cargo test -p koa-session-core).
.PHONY: test-redis-harness
TEST_TARGETS += test-redis-harness
test-redis-harness:
	bash scripts/redis-harness-test.sh
