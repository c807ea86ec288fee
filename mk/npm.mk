# The npm packages as napi-rs projects ship them: the JS package koa-session-ts and one
# package per platform target (node-binding/npm/<tuple>/), here the one for this host.
#   npm-pack          $(NPM_OUT)/koa-session-ts-<v>.tgz and koa-session-ts-linux-x64-gnu-<v>.tgz,
#                     from the release addon of node-addon, stripped into the platform package
#   test-npm-install  tarball contents, attw, then a fresh app installs both tarballs with
#                     cargo off PATH and runs CommonJS, ESM and strict TypeScript apps over HTTP
.PHONY: npm-pack test-npm-install
TEST_TARGETS += test-npm-install

NPM_OUT := $(CARGO_TARGET_DIR)/npm

npm-pack: node-addon
	node $(NODE_DIR)/npm/pack.js $(NODE_DIR)/native/koa-session.node $(NPM_OUT) $(CURDIR)

test-npm-install: npm-pack
	bash tests/npm-install/run.sh $(NPM_OUT)
