#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then hands over to the CLI.
import v8 from 'node:v8';
// libpg-query is WebAssembly. V8's optimizing tier would recompile it in the background once
// the analyzer is busy, adding ~90 MB of resident code at an unpredictable moment for ~14%
// faster cache misses (most statements hit the parse cache). Memory stays predictable without it.
v8.setFlagsFromString('--liftoff-only');
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
