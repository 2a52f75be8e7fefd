// `npm run bench [name...]`: runs each benchmark in scripts/bench/ (or the named ones) one after
// the other. Each prints its ratios against the reference tool it measures in the same run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench');
const all = fs
  .readdirSync(benchDir)
  .filter((file) => /\.(mjs|ts)$/.test(file))
  .sort();
const wanted = process.argv.slice(2);
const chosen = wanted.length
  ? all.filter((file) => wanted.includes(file.replace(/\.\w+$/, '')))
  : all;
let failed = false;
for (const file of chosen) {
  console.log(`\n### ${file}`);
  const runner = file.endsWith('.ts')
    ? ['npx', ['tsx', path.join(benchDir, file)]]
    : [process.execPath, [path.join(benchDir, file)]];
  const result = spawnSync(runner[0], runner[1], { stdio: 'inherit' });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
