// `npm run bench [-- name... [--option value...]]`: runs each benchmark in scripts/bench/ (or the
// named ones) one after the other, passing the options on. Each prints its ratios against the
// reference tool it measures in the same run (docs/dev/benchmarks.md).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench');
const all = fs
  .readdirSync(benchDir)
  .filter((file) => /\.(mjs|ts)$/.test(file))
  .sort();
const firstOption = process.argv.findIndex((arg, index) => index > 1 && arg.startsWith('--'));
const wanted = process.argv.slice(2, firstOption < 0 ? undefined : firstOption);
const passed = firstOption < 0 ? [] : process.argv.slice(firstOption);
const chosen = wanted.length
  ? all.filter((file) => wanted.includes(file.replace(/\.\w+$/, '')))
  : all;
let failed = false;
for (const file of chosen) {
  console.log(`\n### ${file}`);
  const runner = file.endsWith('.ts')
    ? ['npx', ['tsx', path.join(benchDir, file), ...passed]]
    : [process.execPath, [path.join(benchDir, file), ...passed]];
  const result = spawnSync(runner[0], runner[1], { stdio: 'inherit' });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
