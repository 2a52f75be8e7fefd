// Bundles each action (and the arch-core command) with @vercel/ncc into dist/<name>/.
// `node scripts/build.mjs` cleans all of dist/ first; `node scripts/build.mjs NAME...` rebuilds
// only those bundles (each cleaned first), so stale chunks can never linger.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const actionsDir = path.join(root, 'actions');
const bundled = fs
  .readdirSync(actionsDir)
  .filter((name) => fs.existsSync(path.join(actionsDir, name, 'src', 'index.ts')))
  .sort();

const requested = process.argv.slice(2);
for (const name of requested) {
  if (!bundled.includes(name)) {
    console.error(`build: no bundle "${name}"; there are ${bundled.join(', ')}.`);
    process.exit(1);
  }
}
const targets = requested.length > 0 ? requested : bundled;
if (requested.length === 0) fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });

const ncc = path.join(root, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');
for (const name of targets) {
  const out = path.join(root, 'dist', name);
  fs.rmSync(out, { recursive: true, force: true });
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      ncc,
      'build',
      path.join('actions', name, 'src', 'index.ts'),
      '--out',
      path.join('dist', name),
      '--license',
      'licenses.txt',
      '--quiet',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (result.status !== 0) {
    console.error(`build: bundling ${name} failed.`);
    process.exit(result.status ?? 1);
  }
  console.log(`build: dist/${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
