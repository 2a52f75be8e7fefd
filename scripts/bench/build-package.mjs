// Benchmark: the build-package bundle against a bare `makepkg` of the same PKGBUILD (the bundled
// example app in a fresh Mercurial repository), measured in the same run, interleaved, several
// repetitions; prints the medians and their ratio (goal <= 1.15).
//
// The bare makepkg runs the way a person would run it: in a checkout the build user owns
// (prepared outside the timer), `runuser -u builder -- makepkg --nodeps` with the same PKGEXT.
// The action does everything it always does on top: finds the repository, copies it, reads the
// VCS facts, checks the PKGBUILD, builds, generates the .SRCINFO, reads the package back, writes
// the app record, outputs and summary. Run as root (makepkg runs as the build user).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const USER = 'builder';
const PKGEXT = '.pkg.tar.xz';

if (process.getuid?.() !== 0) {
  console.error('build-package bench: run as root (makepkg runs as the build user).');
  process.exit(1);
}
if (!fs.existsSync(path.join(root, 'dist/build-package/index.js'))) {
  console.error(
    'build-package bench: no dist/build-package; run node scripts/build.mjs build-package.',
  );
  process.exit(1);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function sh(command, args, options = {}) {
  return execFileSync(command, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-build-package-'));
fs.chmodSync(work, 0o755);
try {
  // The app in a fresh Mercurial repository, tagged, as the demo makes it.
  const repo = path.join(work, 'hello');
  fs.cpSync(path.join(root, 'examples/hello'), repo, { recursive: true });
  const hgEnv = { ...process.env, HGUSER: 'bench <bench@example.invalid>', HGPLAIN: '1' };
  sh('hg', ['init', '-q'], { cwd: repo, env: hgEnv });
  sh('hg', ['add', '-q'], { cwd: repo, env: hgEnv });
  sh('hg', ['commit', '-q', '-m', 'bench'], { cwd: repo, env: hgEnv });
  sh('hg', ['tag', 'v1.0'], { cwd: repo, env: hgEnv });
  const runnerTemp = path.join(work, 'runner-temp');
  fs.mkdirSync(runnerTemp, { mode: 0o755 });

  const action = (index) => {
    const out = path.join(work, `out-${index}`);
    const outputFile = path.join(work, `output-${index}`);
    fs.writeFileSync(outputFile, '');
    const env = { ...process.env, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: runnerTemp };
    for (const key of Object.keys(env)) if (key.startsWith('INPUT_')) delete env[key];
    Object.assign(env, {
      INPUT_PATH: repo,
      INPUT_VCS: 'auto',
      INPUT_ARCH: 'auto',
      INPUT_PKGEXT: PKGEXT,
      'INPUT_BUILD-USER': USER,
      INPUT_REPO: '',
      'INPUT_REPO-NAME': 'arch-core',
      'INPUT_OUTPUT-DIR': out,
      'INPUT_MAKEPKG-ARGS': '',
      'INPUT_UPLOAD-ARTIFACT': '',
      'INPUT_BUILD-ROOT': '',
    });
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [path.join(root, 'dist/build-package/index.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) {
      throw new Error(`the action failed:\n${result.stdout}\n${result.stderr}`.slice(-3000));
    }
    if (!fs.readdirSync(out).some((name) => name.endsWith(PKGEXT))) throw new Error('no package');
    return seconds;
  };

  const bare = (index) => {
    const dir = path.join(work, `bare-${index}`);
    fs.cpSync(repo, dir, { recursive: true });
    const home = path.join(work, `home-${index}`);
    fs.mkdirSync(home);
    sh('chown', ['-R', `${USER}:`, dir, home]);
    const started = process.hrtime.bigint();
    const result = spawnSync(
      'runuser',
      [
        '-u',
        USER,
        '--',
        'env',
        `HOME=${home}`,
        `PKGEXT=${PKGEXT}`,
        'makepkg',
        '--nodeps',
        '--noconfirm',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0) throw new Error(`makepkg failed:\n${result.stderr}`.slice(-3000));
    if (!fs.readdirSync(dir).some((name) => name.endsWith(PKGEXT))) throw new Error('no package');
    return seconds;
  };

  // A warm-up of each (creates the build user if missing, fills the page cache).
  action('warm');
  bare('warm');
  const actionTimes = [];
  const bareTimes = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternate the order so that neither side always runs on a warmer machine.
    if (run % 2 === 0) {
      actionTimes.push(action(run));
      bareTimes.push(bare(run));
    } else {
      bareTimes.push(bare(run));
      actionTimes.push(action(run));
    }
  }
  const fmt = (values) => values.map((value) => value.toFixed(2)).join(' ');
  console.log(`build-package bundle (s): ${fmt(actionTimes)}`);
  console.log(`bare makepkg       (s): ${fmt(bareTimes)}`);
  const ratio = median(actionTimes) / median(bareTimes);
  const paired = median(actionTimes.map((time, index) => time / bareTimes[index]));
  console.log(
    `median ${median(actionTimes).toFixed(2)} s vs ${median(bareTimes).toFixed(2)} s over ${RUNS} runs: ratio ${ratio.toFixed(3)} (goal <= 1.15); median of the paired ratios ${paired.toFixed(3)}`,
  );
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
