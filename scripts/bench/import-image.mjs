// import-image benchmark (docs/dev/benchmarks.md). For each root — real files copied from /usr,
// or 100,000 files of 1 KiB — the bundle dist/import-image/index.js, run as the runner runs it,
// against the reference tools in the same run, interleaved (one run of every case, then the
// next run): umoci init/new/insert + skopeo copy to the same kind of loopback registry, and
// `tar --sort=name | pigz -6`. Every first push goes to a registry started empty. Inputs that
// the bundle's action.yml does not declare (cache-dir, layers) are reported as skipped.
//
// Usage: npm run bench import-image -- [--sizes 50M,500M,2G,100k] [--runs 3] [--zstd 2G]
//        [--json .cache/bench/import-image.json]
// Needs docker-registry, umoci, skopeo, tar, pigz and /usr/bin/time (scripts/setup.sh).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import {
  combine,
  loadAverage,
  measure,
  median,
  parseOptions,
  printTable,
  ratio,
  Series,
  writeJson,
} from './lib/measure.mjs';
import { bundleRunner } from './lib/bundle.mjs';
import { makeRoot, SIZES, writeApp } from './lib/roots.mjs';

const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const usage = 'import-image [--sizes 50M,500M,2G,100k] [--runs N] [--zstd SIZES] [--json FILE]';
const options = parseOptions(
  process.argv.slice(2),
  {
    sizes: Object.keys(SIZES).join(','),
    runs: 3,
    zstd: '2G',
    json: path.join(project, '.cache/bench/import-image.json'),
  },
  usage,
);
const sizes = options.sizes.split(',');
for (const size of sizes) {
  if (!(size in SIZES)) throw new Error(`--sizes: unknown size ${size}; usage: ${usage}`);
}
if (!(options.runs >= 1)) throw new Error(`--runs must be a number of at least 1; usage: ${usage}`);

const { startRegistry, startFaultProxy } = await tsImport(
  path.join(project, 'test/helpers/registry.ts'),
  import.meta.url,
);
const importImage = await bundleRunner(project, 'import-image');
const hasInput = importImage.hasInput;
const node = importImage.node;
const SKIPPED = 'skipped (input not available)';
const hasPigz = fs.existsSync('/usr/bin/pigz');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-import-image-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

/** The bundle, as the runner runs it, with SOURCE_DATE_EPOCH fixed. */
const runImportImage = (inputs) => importImage.run(inputs, { SOURCE_DATE_EPOCH: '1700000000' });

/** Runs `work(registry)` against a registry started with empty storage, then stops it. */
async function withRegistry(work) {
  const registry = await startRegistry();
  try {
    return await work(registry);
  } finally {
    await registry.stop();
  }
}

const pushInputs = (root, address, more = {}) => ({
  root,
  image: `${address}/bench/app`,
  tags: 'bench',
  insecure: 'true',
  ...more,
});

/** The compressed bytes of the layers of the one image in an OCI layout. */
function layoutLayerBytes(layout) {
  const blob = (digest) =>
    JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', digest.slice(7)), 'utf8'));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  return blob(index.manifests[0].digest).layers.reduce((sum, layer) => sum + layer.size, 0);
}

async function umociAndSkopeo(root, series, bytes) {
  await withRegistry(async (registry) => {
    const layout = path.join(work, 'umoci');
    const umoci = combine(
      await measure('umoci', ['init', '--layout', layout]),
      await measure('umoci', ['new', '--image', `${layout}:bench`]),
      await measure('umoci', ['insert', '--image', `${layout}:bench`, root, '/']),
    );
    const skopeo = await measure('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:bench`,
      `docker://${registry.address}/bench/app:bench`,
    ]);
    series.umoci.add(umoci);
    series.skopeo.add(skopeo);
    series.reference.add(combine(umoci, skopeo));
    bytes.umoci = layoutLayerBytes(layout);
    fs.rmSync(layout, { recursive: true, force: true });
  });
}

/** One run of every case on `root`, in a fixed order. */
async function oneRun(root, size, series, bytes) {
  await withRegistry(async (registry) => {
    const first = series.push.add(await runImportImage(pushInputs(root, registry.address)));
    bytes.ours = Number(first.outputs['size-bytes']);
    series.repush.add(await runImportImage(pushInputs(root, registry.address)));
  });
  await umociAndSkopeo(root, series, bytes);
  if (hasPigz) {
    const tarball = path.join(work, 'layer.tar.gz');
    const pipeline = 'tar --sort=name -C "$1" -cf - . | pigz -6 > "$2"';
    series.tarPigz.add(await measure('sh', ['-c', pipeline, 'sh', root, tarball]));
    bytes.pigz = fs.statSync(tarball).size;
    fs.rmSync(tarball);
  }
  const output = path.join(work, 'layout');
  series.layout.add(
    await runImportImage({ root, image: '127.0.0.1:5000/bench/app', push: 'false', output }),
  );
  fs.rmSync(output, { recursive: true, force: true });
  if (hasInput('cache-dir')) {
    await withRegistry(async (registry) => {
      const cache = fs.mkdtempSync(path.join(work, 'cache-'));
      const inputs = pushInputs(root, registry.address, { 'cache-dir': cache });
      series.cachePush.add(await runImportImage(inputs));
      series.cacheRepush.add(await runImportImage(inputs));
      fs.rmSync(cache, { recursive: true, force: true });
    });
  }
  if (options.zstd.split(',').includes(size)) {
    await withRegistry(async (registry) => {
      const inputs = pushInputs(root, registry.address, { compression: 'zstd' });
      bytes.zstd = Number(series.zstdPush.add(await runImportImage(inputs)).outputs['size-bytes']);
    });
  }
}

/**
 * Blob bytes uploaded by the push after an app-only change (a new app version: its program, its
 * database entry, the manifest), with `layers` single and app, counted by a proxy in front of the
 * registry. Restores the app's first version.
 */
async function appOnlyChange(root, base) {
  const uploaded = {};
  for (const layers of ['single', 'app']) {
    await withRegistry(async (registry) => {
      const proxy = await startFaultProxy(registry.port);
      const inputs = pushInputs(root, proxy.address, { layers });
      writeApp(root, '1.0-1', base);
      await runImportImage(inputs);
      const before = proxy.uploadedBytes();
      writeApp(root, '1.0-2', base);
      await runImportImage(inputs);
      uploaded[layers] = proxy.uploadedBytes() - before;
      await proxy.stop();
    });
  }
  writeApp(root, '1.0-1', base);
  return uploaded;
}

async function benchSize(size) {
  const root = path.join(work, `root-${size}`);
  const held = makeRoot(root, size);
  const cases = ['push', 'repush', 'umoci', 'skopeo', 'reference', 'tarPigz', 'layout'];
  cases.push('cachePush', 'cacheRepush', 'zstdPush');
  const series = Object.fromEntries(cases.map((name) => [name, new Series()]));
  const bytes = {};
  for (let run = 0; run < options.runs; run++) {
    process.stderr.write(`${size}: run ${run + 1} of ${options.runs} (load ${loadAverage()})\n`);
    await oneRun(root, size, series, bytes);
  }
  const uploaded = hasInput('layers') ? await appOnlyChange(root, held.base) : undefined;
  fs.rmSync(root, { recursive: true, force: true });
  return { size, root: { ...held, base: undefined }, series, bytes, uploaded, load: loadAverage() };
}

const mib = (value) => (Number.isFinite(value) ? value.toFixed(0) : '—');
const secs = (values) => (values.length ? median(values).toFixed(2) : '—');

function caseRow(label, series, against, againstLabel) {
  if (series.empty) return [label, SKIPPED, '', '', '', ''];
  return [
    label,
    secs(series.seconds),
    series.seconds.map((value) => value.toFixed(2)).join(' '),
    mib(Math.max(...series.rssMiB)),
    against && !against.empty ? ratio(median(series.seconds), median(against.seconds)) : '',
    against && !against.empty ? againstLabel : '',
  ];
}

function printSize(result) {
  const { series: s, bytes, root, uploaded } = result;
  console.log(
    `\n## ${result.size}: ${root.files} files, ${(root.bytes / 1e6).toFixed(1)} MB, largest ` +
      `${(root.largestFile / 1e6).toFixed(1)} MB; ${options.runs} runs; load at the end ${result.load}`,
  );
  const rows = [['case', 'median s', 'runs (s)', 'peak RSS MiB', 'ratio', 'of']];
  rows.push(caseRow('import-image push (gzip default)', s.push, s.reference, 'umoci+skopeo'));
  rows.push(caseRow('umoci init/new/insert + skopeo copy', s.reference));
  rows.push(caseRow('  umoci alone', s.umoci));
  rows.push(caseRow('  skopeo copy alone', s.skopeo));
  if (hasPigz) {
    rows.push(caseRow('tar --sort=name | pigz -6', s.tarPigz));
    const versusPigz = ratio(median(s.push.seconds), median(s.tarPigz.seconds));
    rows.push(['  import-image push ÷ tar|pigz', '', '', '', versusPigz, '']);
  }
  rows.push(caseRow('import-image layout only (push: false)', s.layout, s.umoci, 'umoci alone'));
  rows.push(caseRow('re-push unchanged, no cache-dir', s.repush, s.push, 'first push'));
  rows.push(caseRow('cache-dir: first push (cold cache)', s.cachePush));
  rows.push(caseRow('cache-dir: re-push unchanged', s.cacheRepush, s.cachePush, 'its first push'));
  if (options.zstd.split(',').includes(result.size)) {
    rows.push(
      caseRow('import-image push, compression: zstd', s.zstdPush, s.reference, 'umoci+skopeo'),
    );
  }
  printTable(rows);
  console.log(
    `layer bytes: import-image ${bytes.ours}, umoci ${bytes.umoci}, ratio ${ratio(bytes.ours, bytes.umoci)}` +
      (bytes.pigz ? `; pigz -6 ${bytes.pigz}` : '') +
      (bytes.zstd ? `; zstd ${bytes.zstd} (ratio to umoci ${ratio(bytes.zstd, bytes.umoci)})` : ''),
  );
  if (!uploaded) console.log(`bytes uploaded after an app-only change, layers: app: ${SKIPPED}`);
  else {
    console.log(
      `bytes uploaded after an app-only change: layers app ${uploaded.app}, single ` +
        `${uploaded.single}, ratio ${ratio(uploaded.app, uploaded.single)} (goal: ≤ app installed ` +
        `${root.appInstalledBytes} + 262144 = ${root.appInstalledBytes + 262144})`,
    );
  }
}

console.log(
  `import-image benchmark: node ${node}; sizes ${sizes.join(', ')}; ${options.runs} runs; ` +
    `${os.availableParallelism()} cores; load ${loadAverage()}` +
    (hasPigz ? '' : '; pigz is not installed (scripts/setup.sh installs it): no tar|pigz case'),
);
console.log(
  'peak RSS: /usr/bin/time -v "Maximum resident set size", the largest single process of the ' +
    'command (umoci+skopeo: the larger of the two; tar|pigz: the larger of tar and pigz).',
);
const results = [];
for (const size of sizes) {
  const result = await benchSize(size);
  printSize(result);
  results.push(result);
}
writeJson(options.json, {
  date: new Date().toISOString(),
  node,
  cores: os.availableParallelism(),
  runs: options.runs,
  inputs: { cacheDir: hasInput('cache-dir'), layers: hasInput('layers') },
  results,
});
