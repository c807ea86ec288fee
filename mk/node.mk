# The Node addon (napi-rs, release build) and the Koa middleware package koa-session-ts.
#   node-deps   npm ci in node-binding/ when node_modules is missing or older than the lockfile
#   node-addon  build the addon from source (napi CLI -> cargo build --release, shared target dir)
#   test-node   the Node suite on Koa 3 and on Koa 2, then tsc --noEmit on the types test
#   demo        start examples/koa-app on 127.0.0.1:$${PORT:-3000}
.PHONY: node-deps node-addon test-node demo demo-deps
TEST_TARGETS += test-node

NODE_DIR := node-binding
NODE_STAMP := $(NODE_DIR)/node_modules/.package-lock.json
DEMO_DIR := examples/koa-app
DEMO_STAMP := $(DEMO_DIR)/node_modules/.package-lock.json

# npm ci writes node_modules/.package-lock.json; touching it marks the install as current.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

node-deps: $(NODE_STAMP)

# cargo decides what to rebuild; the napi CLI also regenerates native/binding.d.ts.
node-addon: node-deps
	cd $(NODE_DIR) && npx napi build --release --output-dir native --dts binding.d.ts

test-node: node-addon
	@# The build regenerates native/binding.d.ts from the Rust sources: the checked-in copy must match.
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- $(NODE_DIR)/native/binding.d.ts; then \
	  git --no-pager diff -- $(NODE_DIR)/native/binding.d.ts; echo "native/binding.d.ts is stale: commit the regenerated file"; exit 1; fi
	cd $(NODE_DIR) && KOA_MODULE=koa node --test --test-reporter=spec test/*.test.js test/*.test.mjs
	cd $(NODE_DIR) && KOA_MODULE=koa2 node --test --test-reporter=spec test/*.test.js test/*.test.mjs
	cd $(NODE_DIR) && npx tsc -p test/types
	@echo "test-node: Koa 3, Koa 2 and the TypeScript types passed"

$(DEMO_STAMP): $(DEMO_DIR)/package.json $(DEMO_DIR)/package-lock.json
	cd $(DEMO_DIR) && npm ci --no-audit --no-fund
	touch $@

demo-deps: $(DEMO_STAMP)

demo: node-addon demo-deps
	cd $(DEMO_DIR) && exec node app.js
