// deploy-fleet: deploy time to N = 1, 3, 10 machines of the fleet stand-in (test/helpers/
// fleet-standin/, behind a real sshd on loopback), reported as the seconds the action adds
// beyond the time the stand-in's agents take by construction (their reconcile and start delays).
// Goal: under 1 s added at N = 10 (the action polls every machine with one /state request).
// Each run replaces a running unit (destroy, wait until gone everywhere, start, wait until all
// run it); the bundle is run as the runner runs it. Median of BENCH_RUNS runs (default 3).
// Not part of the test suite (npm run bench deploy-fleet). Needs root (sshd).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const reconcileMs = Number(process.env.BENCH_RECONCILE_MS ?? 2000);
const startMs = Number(process.env.BENCH_START_MS ?? 1000);
const sizes = [1, 3, 10];

// The test helpers are TypeScript: transpile the three this needs into a temporary directory.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-deploy-fleet-'));
for (const name of ['process', 'sshd', 'fleet-standin']) {
  const source = fs.readFileSync(path.join(root, 'test', 'helpers', `${name}.ts`), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  });
  fs.writeFileSync(path.join(work, `${name}.js`), outputText);
}
fs.writeFileSync(path.join(work, 'package.json'), '{"type":"module"}');
const { startFleetCluster } = await import(pathToFileURL(path.join(work, 'fleet-standin.js')).href);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function runBundle(inputs) {
  const output = path.join(work, 'output');
  fs.writeFileSync(output, '');
  const env = { ...process.env, GITHUB_OUTPUT: output, RUNNER_TEMP: work };
  delete env.GITHUB_STEP_SUMMARY;
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'deploy-fleet', 'index.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk) => (log += chunk));
    child.stderr.on('data', (chunk) => (log += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`deploy-fleet failed (${code}):\n${log}`));
      else resolve(seconds);
    });
  });
}

/** The time the stand-in imposes: DELETE → last agent stopped, plus PUT → last machine running. */
function simulatedSeconds(events, count) {
  const at = (predicate) => events.filter(predicate).map((event) => event.at);
  const deleted = Math.min(...at((event) => event.what === 'DELETE app.service'));
  const gone = at((event) => event.what === 'app.service: stopped and unloaded');
  const put = Math.min(
    ...at((event) => /^PUT app\.service \w+ launched \(created\)$/.test(event.what)),
  );
  const running = at(
    (event) => event.machine && event.at > put && event.what.endsWith('active/running'),
  );
  if (gone.length !== count || running.length !== count)
    throw new Error('unexpected stand-in events');
  return (Math.max(...gone) - deleted + (Math.max(...running) - put)) / 1000;
}

console.log(
  `deploy-fleet: seconds the action adds beyond the stand-in's reconcile (${reconcileMs} ms) and start (${startMs} ms) delays; median of ${runs}`,
);
console.log('machines | wall s | simulated s | added s');
let worst = 0;
try {
  for (const count of sizes) {
    const walls = [];
    const simulated = [];
    const added = [];
    for (let run = 0; run < runs; run++) {
      const machines = Array.from({ length: count }, (_, index) => ({
        id: `bench${String(index).padStart(2, '0')}`,
        primaryIP: `10.0.2.${index + 1}`,
      }));
      const cluster = await startFleetCluster({ machines, reconcileMs, startMs, staleMs: 24_000 });
      try {
        cluster.standin.seedUnit(
          'app.service',
          '[Service]\nExecStart=/usr/bin/docker run r:5000/app:0\n[X-Fleet]\nGlobal=true\n',
        );
        const wall = await runBundle(
          cluster.inputs({ image: `r:5000/app:${run + 1}`, 'tunnel-mode': 'streamlocal' }),
        );
        const imposed = simulatedSeconds(cluster.standin.events, count);
        walls.push(wall);
        simulated.push(imposed);
        added.push(wall - imposed);
      } finally {
        await cluster.stop();
      }
    }
    const result = median(added);
    if (count === 10) worst = result;
    console.log(
      `${String(count).padStart(8)} | ${median(walls).toFixed(2).padStart(6)} | ${median(simulated).toFixed(2).padStart(11)} | ${result.toFixed(2).padStart(7)}`,
    );
  }
  console.log(
    `added at N = 10: ${worst.toFixed(2)} s (goal < 1 s): ${worst < 1 ? 'met' : 'NOT met'}`,
  );
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
