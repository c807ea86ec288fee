'use strict';
// Which platform package serves this process, named as napi-rs names them:
// `<platform>-<arch>` plus the ABI on Linux (gnu / musl) and Windows (msvc). The glibc / musl
// test is the one napi-rs's generated loader makes.
const { readFileSync } = require('node:fs');

/** The targets in package.json's napi.targets, as platform tuples (npm/<tuple>/ each). */
const SUPPORTED = Object.freeze([
  'linux-x64-gnu',
  'linux-x64-musl',
  'linux-arm64-gnu',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
]);

function isMuslFromFilesystem() {
  try {
    return readFileSync('/usr/bin/ldd', 'utf-8').includes('musl');
  } catch {
    return null;
  }
}

function isMuslFromReport() {
  if (!process.report || typeof process.report.getReport !== 'function') return null;
  process.report.excludeNetwork = true;
  const report = process.report.getReport();
  if (!report) return null;
  if (report.header && report.header.glibcVersionRuntime) return false;
  if (Array.isArray(report.sharedObjects)) {
    return report.sharedObjects.some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'));
  }
  return false;
}

function isMuslFromChildProcess() {
  try {
    return require('node:child_process').execSync('ldd --version', { encoding: 'utf8' }).includes('musl');
  } catch {
    // Cannot tell: glibc is the likelier answer.
    return false;
  }
}

function isMusl() {
  let musl = isMuslFromFilesystem();
  if (musl === null) musl = isMuslFromReport();
  if (musl === null) musl = isMuslFromChildProcess();
  return musl;
}

/** e.g. 'linux-x64-gnu', 'darwin-arm64', 'win32-x64-msvc' (supported or not). */
function platformTuple(platform = process.platform, arch = process.arch) {
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

module.exports = { SUPPORTED, platformTuple };
