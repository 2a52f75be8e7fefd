// make-chroot benchmark (docs/dev/benchmarks.md): the bundle dist/make-chroot/index.js, run as
// the runner runs it, against `pacstrap -c -G -M` with an equivalent pacman.conf on the same
// local repository (packages built here with the real makepkg), interleaved, at the same strip
// setting (make-chroot's strip: false; pacstrap extracts everything). Two closures: 2 packages
// (an app and one library), and 32 packages of real files copied from /usr (about 160 MB).
// make-chroot runs with check-libraries off (pacstrap checks nothing), and once more per run
// with check-libraries warn, to show what the library check costs.
//
// Usage: npm run bench make-chroot -- [--runs 5] [--closures small,large] [--json FILE]
// Needs root (pacstrap mounts), makepkg, pacman, pacstrap, /usr/bin/time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { bundleRunner } from './lib/bundle.mjs';
import {
  loadAverage,
  measure,
  median,
  parseOptions,
  printTable,
  ratio,
  Series,
  writeJson,
} from './lib/measure.mjs';
import { usrFiles } from './lib/roots.mjs';

const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const usage = 'make-chroot [--runs N] [--closures small,large] [--json FILE]';
const options = parseOptions(
  process.argv.slice(2),
  { runs: 5, closures: 'small,large', json: path.join(project, '.cache/bench/make-chroot.json') },
  usage,
);
if (process.getuid?.() !== 0) throw new Error('run the benchmark as root (pacstrap mounts)');
const { buildFixtureRepo } = await tsImport(
  path.join(project, 'test/helpers/arch-packages.ts'),
  import.meta.url,
);
const makeChroot = await bundleRunner(project, 'make-chroot');

/** The app (a static program) and one library of a few small files. */
function smallClosure() {
  return [
    { name: 'app', depends: ['libsmall'], program: { prints: 'bench app' } },
    {
      name: 'libsmall',
      files: { 'usr/share/libsmall/data': 'small\n'.repeat(2000), 'usr/lib/libsmall.txt': 'x\n' },
    },
  ];
}

/**
 * The app and 31 libraries in a chain, each holding about `perPackage` bytes of real files from
 * /usr (in /usr's sorted order, under usr/lib/bench<N>/), and 3 unrelated packages left out.
 */
function largeClosure(perPackage = 5.2e6) {
  const source = usrFiles();
  const libraries = Array.from({ length: 31 }, (_, index) => {
    const files = {};
    let bytes = 0;
    while (bytes < perPackage) {
      const { full, stat } = source.next().value;
      if (!stat.isFile() || stat.size > perPackage) continue;
      files[`usr/lib/bench${index}${full.slice(4)}`] = fs.readFileSync(full);
      bytes += stat.size;
    }
    return { name: `lib${index}`, depends: index < 30 ? [`lib${index + 1}`] : [], files };
  });
  const unrelated = Array.from({ length: 3 }, (_, index) => ({
    name: `unrelated${index}`,
    files: { [`usr/share/unrelated${index}/data`]: 'unrelated\n'.repeat(1000) },
  }));
  return [
    { name: 'app', depends: ['lib0'], program: { prints: 'bench app' } },
    ...libraries,
    ...unrelated,
  ];
}

/** Bytes of the regular files under `root` (for the record; outside the timed runs). */
function rootBytes(root) {
  let total = 0;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) total += fs.lstatSync(full).size;
    }
  };
  walk(root);
  return total;
}

async function runMakeChroot(work, repoDir, checkLibraries) {
  const root = path.join(work, 'ours');
  const result = await makeChroot.run({
    packages: 'app',
    repos: `bench=${repoDir}`,
    mirror: 'none',
    arch: 'x86_64',
    root,
    strip: 'false',
    'check-libraries': checkLibraries,
  });
  const held = { bytes: rootBytes(root), packages: Number(result.outputs['package-count']) };
  fs.rmSync(root, { recursive: true, force: true });
  return Object.assign(result, held);
}

/** pacstrap with an equivalent pacman.conf: the same repository, a fresh cache. */
async function runPacstrap(work, repoDir) {
  const root = path.join(work, 'pacstrap');
  const cache = path.join(work, 'pacstrap-cache');
  fs.mkdirSync(root);
  fs.mkdirSync(cache);
  const conf = path.join(work, 'pacstrap.conf');
  fs.writeFileSync(
    conf,
    `[options]\nArchitecture = x86_64\nCacheDir = ${cache}/\nSigLevel = Never\n\n` +
      `[bench]\nSigLevel = Never\nServer = file://${repoDir}\n`,
  );
  const result = await measure('pacstrap', ['-c', '-G', '-M', '-C', conf, root, 'app']);
  const packages = fs
    .readdirSync(path.join(root, 'var/lib/pacman/local'))
    .filter((name) => name !== 'ALPM_DB_VERSION');
  const held = { bytes: rootBytes(root), packages: packages.length };
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(cache, { recursive: true, force: true });
  return Object.assign(result, held);
}

async function closure(name, packages) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-make-chroot-'));
  try {
    process.stderr.write(`${name}: building ${packages.length} packages with makepkg ...\n`);
    const repo = await buildFixtureRepo({
      dir: work,
      arch: 'x86_64',
      repoName: 'bench',
      packages,
      pkgext: '.pkg.tar.zst',
    });
    const series = { ours: new Series(), checked: new Series(), pacstrap: new Series() };
    let last;
    for (let run = 0; run < options.runs; run++) {
      process.stderr.write(`${name}: run ${run + 1} of ${options.runs} (load ${loadAverage()})\n`);
      const ours = series.ours.add(await runMakeChroot(work, repo.repoDir, 'off'));
      series.checked.add(await runMakeChroot(work, repo.repoDir, 'warn'));
      const theirs = series.pacstrap.add(await runPacstrap(work, repo.repoDir));
      if (ours.packages !== theirs.packages) {
        throw new Error(
          `pacstrap installed ${theirs.packages} packages, make-chroot ${ours.packages}`,
        );
      }
      last = { packages: ours.packages, oursBytes: ours.bytes, pacstrapBytes: theirs.bytes };
    }
    return { name, ...last, series, load: loadAverage() };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function printClosure(result) {
  const { series: s } = result;
  console.log(
    `\n## ${result.name}: ${result.packages} packages in the root; root bytes make-chroot ` +
      `${result.oursBytes}, pacstrap ${result.pacstrapBytes}; ${options.runs} runs; load at the end ${result.load}`,
  );
  const row = (label, series, against) => [
    label,
    median(series.seconds).toFixed(3),
    series.seconds.map((value) => value.toFixed(3)).join(' '),
    Math.max(...series.rssMiB).toFixed(0),
    against ? ratio(median(series.seconds), median(against.seconds)) : '',
  ];
  printTable([
    ['case', 'median s', 'runs (s)', 'peak RSS MiB', '÷ pacstrap'],
    row('make-chroot, check-libraries off', s.ours, s.pacstrap),
    row('make-chroot, check-libraries warn', s.checked, s.pacstrap),
    row('pacstrap -c -G -M', s.pacstrap),
  ]);
  const check = median(s.checked.seconds) - median(s.ours.seconds);
  console.log(`library check: ${check.toFixed(3)} s of the median run (warn − off)`);
}

const closures = {
  small: ['2 packages', smallClosure],
  large: ['32-package closure', largeClosure],
};
console.log(
  `make-chroot benchmark: node ${makeChroot.node}; ${options.runs} runs; ${os.availableParallelism()} cores; load ${loadAverage()}`,
);
console.log('peak RSS: /usr/bin/time -v "Maximum resident set size" (the largest single process).');
const results = [];
for (const key of options.closures.split(',')) {
  if (!(key in closures)) throw new Error(`--closures: unknown closure ${key}; usage: ${usage}`);
  const [name, packages] = closures[key];
  const result = await closure(name, packages());
  printClosure(result);
  results.push(result);
}
writeJson(options.json, {
  date: new Date().toISOString(),
  node: makeChroot.node,
  runs: options.runs,
  results,
});
