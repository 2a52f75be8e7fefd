// What the attachments cost a push (docs/dev/benchmarks.md): the bundle dist/import-image/index.js
// pushing the same root to a registry started empty, with nothing attached (provenance: false,
// no SBOMs, no sign-key) and with everything (make-chroot's two SBOMs of the root, sign-key, the
// DSSE-signed provenance), interleaved and alternating which goes first; the ratio of the medians.
//
// Usage: npm run bench import-image-attachments -- [--size 500M] [--runs 3]
//        [--json .cache/bench/import-image-attachments.json]
// Needs docker-registry, openssl and /usr/bin/time (scripts/setup.sh).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import {
  loadAverage,
  median,
  parseOptions,
  printTable,
  ratio,
  Series,
  writeJson,
} from './lib/measure.mjs';
import { bundleRunner } from './lib/bundle.mjs';
import { makeRoot, SIZES } from './lib/roots.mjs';

const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const usage = 'import-image-attachments [--size 500M] [--runs N] [--json FILE]';
const options = parseOptions(
  process.argv.slice(2),
  { size: '500M', runs: 3, json: path.join(project, '.cache/bench/import-image-attachments.json') },
  usage,
);
if (!(options.size in SIZES)) throw new Error(`--size: unknown size ${options.size}; ${usage}`);
if (!(options.runs >= 1)) throw new Error(`--runs must be a number of at least 1; ${usage}`);

const { startRegistry } = await tsImport(
  path.join(project, 'test/helpers/registry.ts'),
  import.meta.url,
);
const sbom = await tsImport(path.join(project, 'actions/make-chroot/src/sbom.ts'), import.meta.url);
const importImage = await bundleRunner(project, 'import-image');
if (!importImage.hasInput('provenance')) {
  console.log('import-image has no provenance input: skipped (input not available)');
  process.exit(0);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-import-image-attachments-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

/** The root's SBOMs as make-chroot writes them, kept outside the root (the inputs name them). */
async function writeSboms(root) {
  const packages = await sbom.readLocalPackages(path.join(root, 'var/lib/pacman'));
  const subject = { arch: 'x86_64', created: '2023-11-14T22:13:20Z', packages };
  const files = {
    spdx: path.join(work, 'sbom.spdx.json'),
    cyclonedx: path.join(work, 'sbom.cdx.json'),
  };
  fs.writeFileSync(files.spdx, sbom.documentBytes(sbom.spdxDocument(subject)));
  fs.writeFileSync(files.cyclonedx, sbom.documentBytes(sbom.cyclonedxDocument(subject)));
  return files;
}

function signingKey() {
  const file = path.join(work, 'key.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
  return fs.readFileSync(file, 'utf8');
}

/** The line import-image prints once the image's blobs and tags are pushed. */
const IMAGE_PUSHED = /uploaded [^\n]* of blobs\n/;

/**
 * One push of `root` to a registry started empty; the attachments it made, checked. Also the
 * seconds from the image being pushed to the end (`afterImageSeconds`).
 */
async function push(root, more, expectAttached) {
  const registry = await startRegistry();
  try {
    const inputs = {
      root,
      image: `${registry.address}/bench/app`,
      tags: 'bench',
      insecure: 'true',
    };
    // When the image is in (its blobs and tags): what follows is the attachments and the exit.
    let imagePushedAt;
    const onStdout = (output, seconds) => {
      if (imagePushedAt === undefined && IMAGE_PUSHED.test(output)) imagePushedAt = seconds;
    };
    const result = await importImage.run(
      { ...inputs, ...more },
      { SOURCE_DATE_EPOCH: '1700000000' },
      { onStdout },
    );
    if (imagePushedAt === undefined)
      throw new Error(`no "uploaded … of blobs" line:\n${result.output}`);
    result.afterImageSeconds = result.seconds - imagePushedAt;
    const attached = ['sbom-spdx-digest', 'sbom-cyclonedx-digest', 'provenance-digest'].filter(
      (name) => result.outputs[name],
    );
    if (attached.length !== (expectAttached ? 3 : 0)) {
      throw new Error(
        `expected ${expectAttached ? 'all three' : 'no'} attachments, got ${attached}`,
      );
    }
    return result;
  } finally {
    await registry.stop();
  }
}

const root = path.join(work, 'root');
const held = makeRoot(root, options.size);
const files = await writeSboms(root);
const withAll = {
  'sbom-spdx': files.spdx,
  'sbom-cyclonedx': files.cyclonedx,
  'sign-key': signingKey(),
  provenance: 'true',
};
const without = { provenance: 'false' };
const startLoad = loadAverage();
console.log(
  `import-image attachments: node ${importImage.node}; ${options.size} (${held.files} files, ` +
    `${(held.bytes / 1e6).toFixed(1)} MB); ${options.runs} runs; ${os.availableParallelism()} cores; ` +
    `load ${startLoad}`,
);
const series = { without: new Series(), with: new Series() };
const after = { without: [], with: [] };
for (let run = 0; run < options.runs; run++) {
  process.stderr.write(`run ${run + 1} of ${options.runs} (load ${loadAverage()})\n`);
  const order = run % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
  for (const name of order) {
    const attaching = name === 'with';
    const result = series[name].add(await push(root, attaching ? withAll : without, attaching));
    after[name].push(result.afterImageSeconds);
  }
}
const endLoad = loadAverage();
const runs = (values) => values.map((value) => value.toFixed(2)).join(' ');
const rows = [
  ['case', 'median s', 'runs (s)', 'after the image: median s', 'runs (s)', 'peak RSS MiB'],
];
for (const [label, name] of [
  ['push, nothing attached', 'without'],
  ['push + 2 SBOMs + signature + signed provenance', 'with'],
]) {
  const s = series[name];
  rows.push([
    label,
    median(s.seconds).toFixed(2),
    runs(s.seconds),
    median(after[name]).toFixed(2),
    runs(after[name]),
    Math.max(...s.rssMiB).toFixed(0),
  ]);
}
printTable(rows);
const figure = ratio(median(series.with.seconds), median(series.without.seconds));
// The same layer is made in both cases; only what follows the image differs. Under load, the
// layer's time varies more than the attachments take, so this second figure is the steadier one.
const added = median(after.with) - median(after.without);
const tailFigure = ratio(median(series.without.seconds) + added, median(series.without.seconds));
console.log(`ratio with ÷ without: ${figure} (goal ≤ 1.05); load at the end ${endLoad}`);
console.log(
  `time after the image, with − without: ${added.toFixed(2)} s; (push without + that) ÷ push ` +
    `without: ${tailFigure}`,
);
writeJson(options.json, {
  date: new Date().toISOString(),
  node: importImage.node,
  size: options.size,
  root: { ...held, base: undefined },
  runs: options.runs,
  load: { start: startLoad, end: endLoad },
  series,
  afterImageSeconds: after,
  ratio: Number(figure),
  ratioFromTimeAfterImage: Number(tailFigure),
});
