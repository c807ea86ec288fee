'use strict';
// The napi-rs loader, kept out of lib/ (the middleware) as napi-rs keeps its generated loader
// apart. Loads the native addon, in this order (as napi-rs's generated loader does):
//   1. NAPI_RS_NATIVE_LIBRARY_PATH, when set: that .node file and nothing else;
//   2. native/koa-session.node beside lib/: the local build in the repository (`make node-addon`);
//   3. the platform package koa-session-ts-<platform>: an optional dependency that npm installs
//      only on the platform it was built for (its `os`, `cpu` and `libc` fields).
// When none fits, the error names the platform and the package it needs.
const { existsSync } = require('node:fs');
const path = require('node:path');
const { SUPPORTED, platformTuple } = require('./platform');
const { name, version } = require('../package.json');

const LOCAL_BUILD = path.join(__dirname, '..', 'native', 'koa-session.node');

function loadError(message, cause) {
  const err = new Error(`${name}: ${message}`);
  if (cause !== undefined) err.cause = cause;
  err.code = 'ERR_KOA_SESSION_NATIVE';
  return err;
}

function loadFile(file, what) {
  try {
    return require(file);
  } catch (err) {
    throw loadError(`cannot load the native addon ${what} (${file}): ${err.message}`, err);
  }
}

/** True when `err` says that `request` itself (not something it requires) is not installed. */
function isMissing(err, request) {
  return err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${request}'`);
}

function loadPlatformPackage() {
  const tuple = platformTuple();
  if (!SUPPORTED.includes(tuple)) {
    throw loadError(`no native binding for ${tuple}: this platform is not supported; supported: ${SUPPORTED.join(', ')}`);
  }
  const pkg = `${name}-${tuple}`;
  let pkgVersion;
  try {
    pkgVersion = require(`${pkg}/package.json`).version;
  } catch (err) {
    if (!isMissing(err, `${pkg}/package.json`)) throw loadError(`cannot read ${pkg}/package.json: ${err.message}`, err);
    throw loadError(
      `no native binding for ${tuple}: the optional dependency ${pkg} is not installed. ` +
        `Install it with \`npm install ${pkg}@${version}\` (or its tarball ${pkg}-${version}.tgz, made ` +
        `with ${name}-${version}.tgz), or reinstall without --omit=optional ` +
        '(npm also skips optional dependencies when the lockfile was made on another platform). ' +
        `Platforms with a binding: ${SUPPORTED.join(', ')}`,
    );
  }
  if (pkgVersion !== version) {
    throw loadError(`${pkg} is version ${pkgVersion}, ${name} ${version} needs the same version: \`npm install ${pkg}@${version}\``);
  }
  return loadFile(require.resolve(pkg), `from ${pkg}`);
}

function load() {
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH;
  if (override) return loadFile(path.resolve(override), 'named by NAPI_RS_NATIVE_LIBRARY_PATH');
  if (existsSync(LOCAL_BUILD)) return loadFile(LOCAL_BUILD, 'built in this repository');
  return loadPlatformPackage();
}

module.exports = load();
