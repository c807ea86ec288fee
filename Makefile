# koa-session-ts: one session engine (Rust) for Koa apps and C servers.
#   make demo   build what the demo needs and start the Koa demo app (MemoryStore)
#   make test   install what the tests need (when run as root on Debian) and run every suite
# Each part of the project keeps its targets in mk/<part>.mk; `test` runs all of them.

SHELL := /bin/bash
export CARGO_TERM_COLOR := never
CARGO ?= cargo
# One target dir and one build per profile, shared by the Rust, C and Node suites.
export CARGO_TARGET_DIR ?= $(CURDIR)/target

TEST_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: test deps
deps:
	bash scripts/install-deps.sh

test: deps $(TEST_TARGETS)
	@echo "all test suites passed: $(TEST_TARGETS)"
