# The demo app (examples/koa-app, MemoryStore) in a real browser: Debian's chromium, headless,
# driven by puppeteer-core (which downloads no browser) from tests/browser/: login through the
# form (and a wrong password), the counter, the 20-parallel-writes page, the HttpOnly session
# cookie, logout, and nothing from before the logout logging in again.
#   browser-deps  npm ci in tests/browser/ when node_modules is missing or older than the lockfile
#   test-browser  node --test (TAP); a failing test saves target/browser/<test>.png and says so
# Reuses node-addon and demo-deps of mk/node.mk. CHROMIUM=/path/to/chromium for another binary.
.PHONY: browser-deps test-browser
TEST_TARGETS += test-browser

BROWSER_DIR := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.package-lock.json
CHROMIUM ?= /usr/bin/chromium

# npm ci writes node_modules/.package-lock.json; touching it marks the install as current.
$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

browser-deps: $(BROWSER_STAMP)

test-browser: node-addon demo-deps browser-deps
	@test -x $(CHROMIUM) || { echo "test-browser: no chromium at $(CHROMIUM) (make deps installs Debian's chromium as root)"; exit 1; }
	cd $(BROWSER_DIR) && CHROMIUM=$(CHROMIUM) BROWSER_SHOTS=$(CARGO_TARGET_DIR)/browser node --test --test-reporter=tap demo.test.js
