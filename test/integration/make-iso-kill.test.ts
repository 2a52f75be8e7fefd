import { jest } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inputVariable } from '../../actions/cli/src/local-runner.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { bundleNode, projectRoot } from '../helpers/bundle.js';
import { exampleInputs } from '../helpers/make-iso-fixtures.js';

/**
 * make-iso killed (SIGKILL) while it puts its file set in place, many times: whatever it left, a
 * reader who checks make-iso.sha256 (as the README says) either finds no checksum file — the set
 * is incomplete — or a set that matches it, every file of one run. strace makes each rename(2)
 * slow (300 ms at its entry) so that the kills land between the renames.
 */

jest.setTimeout(300_000);

const FILES = ['master.cloud-config.yml', 'slave.cloud-config.yml', 'master.iso', 'slave.iso'];
const RUNS = 16;

let work: string;
let output: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-kill-'));
  output = path.join(work, 'out');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** make-iso under strace with ssh-port `port`; killed after `killAfterMs` unless undefined. */
async function makeIso(port: number, killAfterMs?: number): Promise<number | null> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GITHUB_OUTPUT: path.join(work, 'github-output'),
    GITHUB_STEP_SUMMARY: path.join(work, 'summary'),
    RUNNER_TEMP: work,
  };
  fs.writeFileSync(env.GITHUB_OUTPUT as string, '');
  fs.writeFileSync(env.GITHUB_STEP_SUMMARY as string, '');
  for (const key of Object.keys(env)) if (key.startsWith('INPUT_')) delete env[key];
  const inputs = actionInputs('make-iso', {
    ...exampleInputs(),
    'ssh-port': String(port),
    output,
    format: 'both',
    // No Flatcar release server here: a refused connection, at once (the step only warns).
    'image-base-url': 'http://127.0.0.1:9/amd64-usr/current',
  });
  for (const [name, value] of Object.entries(inputs)) env[inputVariable(name)] = value;
  const child = spawn(
    'strace',
    [
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      'trace=rename,renameat,renameat2',
      '-e',
      'inject=rename,renameat,renameat2:delay_enter=300000',
      bundleNode(),
      path.join(projectRoot, 'dist', 'make-iso', 'index.js'),
    ],
    { env, stdio: 'ignore', detached: true },
  );
  const timer =
    killAfterMs === undefined
      ? undefined
      : setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), killAfterMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return code;
}

/** What a reader concludes: 'incomplete' without a checksum file, else the run's ssh port. */
function readerSees(): 'incomplete' | number {
  const checksums = path.join(output, 'make-iso.sha256');
  if (!fs.existsSync(checksums)) return 'incomplete';
  const check = spawnSync('sha256sum', ['--check', '--strict', '--quiet', 'make-iso.sha256'], {
    cwd: output,
    encoding: 'utf8',
  });
  expect(check.stdout + check.stderr).toBe('');
  expect(check.status).toBe(0);
  const named = fs
    .readFileSync(checksums, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('  ')[1]);
  expect(named.sort()).toEqual([...FILES].sort());
  const ports = new Set(
    FILES.map((file) => {
      const text = fs.readFileSync(path.join(output, file)).toString('latin1');
      return Number(/ListenStream=(\d+)\n/.exec(text)?.[1]);
    }),
  );
  expect(ports.size).toBe(1);
  return [...ports][0] as number;
}

test('killed at random points while replacing its set, a reader never takes a mix for a set', async () => {
  expect(await makeIso(30000)).toBe(0);
  expect(readerSees()).toBe(30000);
  const started = Date.now();
  expect(await makeIso(30001)).toBe(0);
  const fullRunMs = Date.now() - started;
  expect(readerSees()).toBe(30001);

  const seen: Array<'incomplete' | number> = [];
  for (let run = 0; run < RUNS; run++) {
    const port = 31000 + run;
    // Kill times spread over the second half of a whole run, where the renames are.
    const killAfter = Math.round(fullRunMs * (0.5 + (0.5 * run) / RUNS));
    await makeIso(port, killAfter);
    const sees = readerSees();
    seen.push(sees);
    if (sees !== 'incomplete') expect(sees).toBeLessThanOrEqual(port);
  }
  process.stderr.write(`whole run ${fullRunMs} ms; a reader saw: ${seen.join(' ')}\n`);
  // Some kills did land between the renames. (How many land after the last rename depends on the
  // machine's load; the complete sets a reader takes are checked by the runs above and below.)
  expect(seen).toContain('incomplete');

  expect(await makeIso(32000)).toBe(0);
  expect(readerSees()).toBe(32000);
  // Nothing of the killed runs is left where a later step looks: in output only the set, beside
  // it no staging directory (the last run removed those the killed ones left).
  expect(fs.readdirSync(output).sort()).toEqual([...FILES, 'make-iso.sha256'].sort());
  expect(fs.readdirSync(work).filter((name) => name.startsWith('.out.tmp-'))).toEqual([]);
});

test('a staging directory a killed run left beside output is removed by the next run', async () => {
  // Killed while writing the ISOs: the staging directory beside output holds a partial one.
  const full = Date.now();
  expect(await makeIso(33000)).toBe(0);
  const fullRunMs = Date.now() - full;
  let left: string[] = [];
  for (let attempt = 0; attempt < 5 && left.length === 0; attempt++) {
    await makeIso(33001, Math.round(fullRunMs * (0.2 + 0.1 * attempt)));
    left = fs.readdirSync(work).filter((name) => name.startsWith('.out.tmp-'));
  }
  expect(left.length).toBeGreaterThan(0);
  expect(fs.readdirSync(output).filter((name) => name.startsWith('.'))).toEqual([]);
  expect(await makeIso(33002)).toBe(0);
  expect(readerSees()).toBe(33002);
  expect(fs.readdirSync(work).filter((name) => name.startsWith('.out.tmp-'))).toEqual([]);
});
