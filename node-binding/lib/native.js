'use strict';
// Loads the addon built from this package's Rust sources (`make node-addon`, or
// `npm run build`). There are no prebuilt binaries to download and no platform packages.
const path = require('node:path');

const file = path.join(__dirname, '..', 'native', 'koa-session.node');
let binding;
try {
  binding = require(file);
} catch (err) {
  const e = new Error(
    `koa-session-ts: cannot load the native addon ${file} (${err.message}). ` +
      'Build it from source with `make node-addon` in the repository, or `npm run build` in node-binding/ (needs Rust).',
  );
  e.cause = err;
  throw e;
}
module.exports = binding;
