#!/usr/bin/env node
// A solc command-line front end over the npm `solc` (wasm) package, shaped the way
// py-solc-x (and so brownie) calls a native solc: `--version` and
// `--standard-json [--allow-paths P,...]` with the input on stdin.
// The launcher scripts/solc-launcher.sh answers `--version` itself from a cached string,
// because loading the wasm compiler takes about a second and brownie asks often.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--standard-json') opts.standardJson = true;
    else if (arg === '--version') opts.version = true;
    else if (arg === '--allow-paths') opts.allowPaths.push(...String(argv[++i] || '').split(','));
    else if (arg.startsWith('--allow-paths=')) opts.allowPaths.push(...arg.slice(14).split(','));
    // Other flags (e.g. --base-path) are accepted and ignored: sources arrive in the JSON.
  }
  opts.allowPaths = opts.allowPaths.filter(Boolean);
  return opts;
}

function nodeModulesRoots(start) {
  const roots = [];
  let dir = path.resolve(start);
  for (;;) {
    roots.push(path.join(dir, 'node_modules'));
    const parent = path.dirname(dir);
    if (parent === dir) return roots;
    dir = parent;
  }
}

function makeImportResolver(allowPaths) {
  const cwd = process.cwd();
  const bases = [cwd, ...allowPaths, ...nodeModulesRoots(cwd), ...nodeModulesRoots(__dirname)];
  return function findImports(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : bases.map((base) => path.join(base, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      } catch (err) {
        if (err.code !== 'ENOENT' && err.code !== 'EISDIR') return { error: String(err) };
      }
    }
    return { error: `File not found: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = require('solc');
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('usage: solc --standard-json [--allow-paths P] < input.json\n');
    process.exitCode = 2;
    return;
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: makeImportResolver(opts.allowPaths) });
  // No process.exit() here: it would cut a large stdout write short.
  process.stdout.write(output);
}

main();
