// Benchmark: make-chroot's bundle against `pacstrap -c -G -M -C CONF ROOT PKGS` on the same local
// repository (packages built here with the real makepkg), in the same run. Prints the median
// wall-time ratio (goal <= 1.2), the root-size ratio (goal <= 1.0) and the root's bytes divided by
// the sum of the installed packages' sizes (goal <= 1.05). Needs root (pacstrap mounts).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { directorySize } from '../../actions/core/src/files.js';
import { runActionLocally } from '../../actions/cli/src/local-runner.js';
import { parseManifest } from '../../actions/core/src/manifest.js';
import { buildFixtureRepo, type FixturePackage } from '../../test/helpers/arch-packages.js';
import { projectRoot } from '../../test/helpers/bundle.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Deterministic content of `size` bytes that compresses about as well as real package content
 * (words drawn from a small vocabulary: xz shrinks it 3-4 times, like binaries and libraries).
 */
function blob(seed: number, size: number): string {
  const words = Array.from({ length: 4096 }, (_, index) => (index * 7919 + seed).toString(36));
  let state = (seed + 1) * 2654435761;
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    state = (state * 1103515245 + 12345) >>> 0;
    const word = words[state % words.length]!;
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ').slice(0, size);
}

/**
 * An app with a dependency chain of 12 libraries, each with 8 data files of `fileSize` bytes,
 * and 4 unrelated packages that must be left out.
 */
function fixturePackages(fileSize: number): FixturePackage[] {
  const libs: FixturePackage[] = Array.from({ length: 12 }, (_, index) => ({
    name: `lib${index}`,
    depends: index + 1 < 12 ? [`lib${index + 1}`] : [],
    files: Object.fromEntries(
      Array.from({ length: 8 }, (_, file) => [
        `usr/share/lib${index}/data${file}`,
        blob(index * 10 + file, fileSize),
      ]),
    ),
  }));
  const unrelated: FixturePackage[] = Array.from({ length: 4 }, (_, index) => ({
    name: `unrelated${index}`,
    files: { [`usr/share/unrelated${index}/data`]: blob(900 + index, 65_536) },
  }));
  return [
    { name: 'app', depends: ['lib0'], program: { prints: 'bench app' } },
    ...libs,
    ...unrelated,
  ];
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await work();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, value };
}

interface RunResult {
  ms: number;
  /** Bytes of the root. */
  size: number;
  /** Packages in the root. */
  packageCount: number;
}

/** make-chroot: the bundle, as the runner runs it. */
async function runMakeChroot(
  work: string,
  run: number,
  repoDir: string,
  runnerTemp: string,
): Promise<RunResult & { installedSum: number }> {
  const root = path.join(work, `ours-${run}`);
  const mine = await timed(() =>
    runActionLocally({
      actionDir: path.join(projectRoot, 'actions/make-chroot'),
      bundle: path.join(projectRoot, 'dist/make-chroot/index.js'),
      inputs: {
        packages: 'app',
        repos: `bench=${repoDir}`,
        mirror: 'none',
        arch: 'x86_64',
        root,
      },
      env: { RUNNER_TEMP: runnerTemp },
    }),
  );
  if (mine.value.code !== 0) throw new Error(`make-chroot failed:\n${mine.value.log}`);
  const size = await directorySize(root);
  const manifest = parseManifest(
    await fs.readFile(mine.value.outputs.manifest!, 'utf8'),
    'manifest',
  );
  await fs.rm(root, { recursive: true, force: true });
  return {
    ms: mine.ms,
    size,
    packageCount: manifest.packages.length,
    installedSum: manifest.packages.reduce((sum, entry) => sum + entry.installedSize, 0),
  };
}

/** pacstrap with an equivalent pacman.conf (same repository, fresh cache). */
async function runPacstrap(work: string, run: number, repoDir: string): Promise<RunResult> {
  const root = path.join(work, `pacstrap-${run}`);
  const cache = path.join(work, `pacstrap-cache-${run}`);
  await fs.mkdir(root);
  await fs.mkdir(cache);
  const conf = path.join(work, `pacstrap-${run}.conf`);
  await fs.writeFile(
    conf,
    `[options]\nArchitecture = x86_64\nCacheDir = ${cache}/\nSigLevel = Never\n\n[bench]\nSigLevel = Never\nServer = file://${repoDir}\n`,
  );
  const reference = await timed(async () =>
    execFileSync('pacstrap', ['-c', '-G', '-M', '-C', conf, root, 'app'], {
      stdio: 'pipe',
    }),
  );
  const size = await directorySize(root);
  const listed = execFileSync('pacman', ['-r', root, '-Q'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  await fs.rm(root, { recursive: true, force: true });
  return { ms: reference.ms, size, packageCount: listed.length };
}

function report(
  ours: number[],
  theirs: number[],
  sizes: { ours: number; theirs: number; installedSum: number },
): void {
  const timeRatio = median(ours) / median(theirs);
  const sizeRatio = sizes.ours / sizes.theirs;
  const overhead = sizes.ours / sizes.installedSum;
  console.log(
    `runs: ${RUNS}; packages in the root: 13 (app + a chain of 12), 4 unrelated left out`,
  );
  console.log(
    `make-chroot median wall time: ${median(ours).toFixed(0)} ms (runs: ${ours.map((v) => v.toFixed(0)).join(' ')})`,
  );
  console.log(
    `pacstrap    median wall time: ${median(theirs).toFixed(0)} ms (runs: ${theirs.map((v) => v.toFixed(0)).join(' ')})`,
  );
  console.log(
    `root bytes: make-chroot ${sizes.ours}, pacstrap ${sizes.theirs}; sum of installed sizes ${sizes.installedSum}`,
  );
  console.log(`wall-time ratio (goal <= 1.2): ${timeRatio.toFixed(3)}`);
  console.log(`root-size ratio (goal <= 1.0): ${sizeRatio.toFixed(3)}`);
  console.log(`root bytes / installed sizes (goal <= 1.05): ${overhead.toFixed(3)}`);
}

async function scenario(
  title: string,
  fileSize: number,
  pkgext: '.pkg.tar.xz' | '.pkg.tar.zst',
): Promise<void> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-make-chroot-'));
  try {
    console.log(`\n## ${title}: building the fixture repository with makepkg ...`);
    const repo = await buildFixtureRepo({
      dir: work,
      arch: 'x86_64',
      repoName: 'bench',
      packages: fixturePackages(fileSize),
      pkgext,
    });
    const runnerTemp = path.join(work, 'runner-temp');
    await fs.mkdir(runnerTemp);

    const ours: number[] = [];
    const theirs: number[] = [];
    const sizes = { ours: 0, theirs: 0, installedSum: 0 };
    for (let run = 0; run < RUNS; run++) {
      const mine = await runMakeChroot(work, run, repo.repoDir, runnerTemp);
      const reference = await runPacstrap(work, run, repo.repoDir);
      if (reference.packageCount !== mine.packageCount) {
        throw new Error(
          `pacstrap installed ${reference.packageCount} packages, make-chroot ${mine.packageCount}`,
        );
      }
      ours.push(mine.ms);
      theirs.push(reference.ms);
      Object.assign(sizes, {
        ours: mine.size,
        theirs: reference.size,
        installedSum: mine.installedSum,
      });
    }
    report(ours, theirs, sizes);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root (pacstrap mounts)');
  // Small: 2 MiB of packages, where the fixed cost of starting Node (~0.1 s) dominates.
  // Realistic: about the size of a minimal i686 app root (glibc and a few libraries, ~40 MiB
  // installed), packed as .pkg.tar.xz like the packages this project builds.
  await scenario('small root (2 MiB, zst)', 16_384, '.pkg.tar.zst');
  await scenario('realistic root (40 MiB, xz)', 409_600, '.pkg.tar.xz');
}

await main();
