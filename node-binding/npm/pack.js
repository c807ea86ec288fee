#!/usr/bin/env node
'use strict';
// Packs the npm packages as napi-rs projects publish them, offline (`make npm-pack`):
//   <out>/koa-session-ts-<version>.tgz                the JS package: lib/, types, README, LICENSE,
//                                                     and optionalDependencies on its platform packages
//   <out>/koa-session-ts-<tuple>-<version>.tgz        npm/<tuple>/: the stripped .node for this host
// `napi pre-publish` does the same at publish time (it adds optionalDependencies and copies
// the binaries in) but it publishes too, so this script stages copies under <out>/stage and
// runs `npm pack` there: the source tree is never written to.
//
// usage: node npm/pack.js <addon.node> <out dir> <repo root>
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { SUPPORTED, platformTuple } = require('../loader/platform');

const PKG_DIR = path.join(__dirname, '..');

function fail(message) {
  console.error(`npm-pack: ${message}`);
  process.exit(1);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function npm(args, cwd) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The files `npm pack` takes from `dir` (its `files` list plus package.json). */
function packedFiles(dir) {
  const [report] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], dir));
  return report.files.map((f) => f.path);
}

function copyInto(stage, root, files) {
  for (const file of files) {
    const to = path.join(stage, file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(root, file), to);
  }
}

/** Copies the addon without its symbols and debug info (the repo's release profile keeps some). */
function stripInto(addon, to) {
  if (process.platform === 'linux') {
    execFileSync('strip', ['--strip-unneeded', '-o', to, addon], { stdio: 'inherit' });
  } else if (process.platform === 'darwin') {
    fs.copyFileSync(addon, to);
    execFileSync('strip', ['-x', to], { stdio: 'inherit' });
  } else {
    fs.copyFileSync(addon, to);
  }
}

function pack(stage, out) {
  const [report] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', out], stage));
  const file = path.join(out, report.filename);
  console.log(`npm-pack: ${file} (${report.size} bytes, ${report.entryCount} files, unpacked ${report.unpackedSize} bytes)`);
}

function main() {
  const [addonArg, outArg, rootArg] = process.argv.slice(2);
  if (!addonArg || !outArg || !rootArg) fail('usage: node npm/pack.js <addon.node> <out dir> <repo root>');
  const addon = path.resolve(addonArg);
  const out = path.resolve(outArg);
  const root = path.resolve(rootArg);
  if (!fs.existsSync(addon)) fail(`${addon} does not exist: build it first (make node-addon)`);

  const main = readJson(path.join(PKG_DIR, 'package.json'));
  const npmDirs = fs.readdirSync(__dirname).filter((d) => fs.existsSync(path.join(__dirname, d, 'package.json')));
  // npm/ holds one package per napi.targets entry (`npx napi create-npm-dirs`); the loader's
  // list of supported platforms must name the same ones.
  if (npmDirs.sort().join() !== [...SUPPORTED].sort().join() || main.napi.targets.length !== SUPPORTED.length) {
    fail(`npm/ has ${npmDirs.join(', ')}; loader/platform.js SUPPORTED has ${SUPPORTED.join(', ')}; napi.targets has ${main.napi.targets.length}: regenerate npm/ with \`npx napi create-npm-dirs\` and update SUPPORTED`);
  }
  for (const tuple of npmDirs) {
    const p = readJson(path.join(__dirname, tuple, 'package.json'));
    if (p.name !== `${main.name}-${tuple}` || p.version !== main.version) {
      fail(`npm/${tuple}/package.json is ${p.name}@${p.version}, expected ${main.name}-${tuple}@${main.version} (\`npx napi version\`)`);
    }
  }
  const tuple = platformTuple();
  if (!SUPPORTED.includes(tuple)) fail(`this host (${tuple}) is not one of the targets: ${SUPPORTED.join(', ')}`);

  const stageRoot = path.join(out, 'stage');
  fs.rmSync(stageRoot, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  for (const old of fs.readdirSync(out)) if (old.endsWith('.tgz')) fs.rmSync(path.join(out, old));

  // The platform package of this host: package.json and README from npm/<tuple>/, LICENSE,
  // and the stripped addon under the name its `main` gives.
  const platformDir = path.join(__dirname, tuple);
  const platformPkg = readJson(path.join(platformDir, 'package.json'));
  const platformStage = path.join(stageRoot, tuple);
  fs.mkdirSync(platformStage, { recursive: true });
  copyInto(platformStage, platformDir, ['package.json', 'README.md']);
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(platformStage, 'LICENSE'));
  stripInto(addon, path.join(platformStage, platformPkg.main));

  // The main package: what its `files` list names, the repository's README and LICENSE, and
  // optionalDependencies on the platform packages packed here (exact versions, as napi-rs
  // writes them; platforms not built here are not listed, so npm never asks the registry for
  // a package that was not published).
  const mainStage = path.join(stageRoot, 'main');
  fs.mkdirSync(mainStage, { recursive: true });
  copyInto(mainStage, PKG_DIR, packedFiles(PKG_DIR).filter((f) => f !== 'package.json'));
  fs.copyFileSync(path.join(root, 'README.md'), path.join(mainStage, 'README.md'));
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(mainStage, 'LICENSE'));
  writeJson(path.join(mainStage, 'package.json'), {
    ...main,
    optionalDependencies: { ...main.optionalDependencies, [platformPkg.name]: platformPkg.version },
  });

  pack(mainStage, out);
  pack(platformStage, out);
}

main();
