// import-image benchmark. From a generated root of at least 50 MB, measured in the same run
// against the reference tools, median of several runs:
//   1. root → pushed image: the action's bundle vs `umoci insert` (make the layout) + `skopeo copy`
//      (push) of the same root to the same kind of registry (goal: ratio ≤ 1.0);
//   2. layer creation alone: import-image's layerFromRoot vs `tar --sort=name -c | gzip` (goal ≤ 1.2);
//   3. re-push of the unchanged image as a fraction of the first push (goal ≤ 0.05), for the push
//      phase (blobs HEADed and skipped, manifests put) and, for information, the whole action.
// Usage: node scripts/bench/import-image.mjs [runs] (default 3). Needs docker-registry, umoci,
// skopeo, tar, gzip.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.argv[2] ?? 3);
const { layerFromRoot, imageConfigJson, imageManifestJson, digestOf, MEDIA_TYPES } = await tsImport(
  path.join(project, 'actions/import-image/src/oci.ts'),
  import.meta.url,
);
const { RegistryClient } = await tsImport(
  path.join(project, 'actions/import-image/src/registry.ts'),
  import.meta.url,
);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-import-image-'));
const children = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

/** A seeded generator, so every run and machine benchmarks the same root. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

function makeRoot(root) {
  const random = generator(42);
  const words = Array.from({ length: 4096 }, () =>
    Array.from({ length: 3 + Math.floor(random() * 8) }, () =>
      String.fromCharCode(97 + Math.floor(random() * 26)),
    ).join(''),
  );
  const text = (bytes) => {
    const parts = [];
    let size = 0;
    while (size < bytes) {
      const word = words[Math.floor(random() * words.length)];
      parts.push(word);
      size += word.length + 1;
    }
    return parts.join(random() < 0.1 ? '\n' : ' ').slice(0, bytes);
  };
  // 1500 small text files (~6 MB), 20 text files of 2 MB (40 MB), 5 binary-like files of 2 MB.
  for (let i = 0; i < 1500; i++) {
    const dir = path.join(root, 'usr/share/doc', `pkg${i % 60}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `file${i}.txt`), text(1000 + Math.floor(random() * 7000)));
  }
  fs.mkdirSync(path.join(root, 'usr/lib/data'), { recursive: true });
  for (let i = 0; i < 20; i++) {
    fs.writeFileSync(path.join(root, 'usr/lib/data', `text${i}.dat`), text(2 * 1024 * 1024));
  }
  for (let i = 0; i < 5; i++) {
    const bytes = Buffer.alloc(2 * 1024 * 1024);
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    fs.writeFileSync(path.join(root, 'usr/lib/data', `blob${i}.bin`), bytes);
  }
  fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  fs.copyFileSync('/bin/true', path.join(root, 'usr/bin/app'));
}

function rootSize(root) {
  return Number(execFileSync('du', ['-sb', root], { encoding: 'utf8' }).split('\t')[0]);
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRegistry(name) {
  const dir = path.join(work, `registry-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  children.push(child);
  for (let i = 0; i < 200; i++) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    address: `127.0.0.1:${port}`,
    stop: () => {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function timed(command, args, options = {}) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  const elapsed = seconds(start);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  }
  return elapsed;
}

function runAction(root, image) {
  const env = { ...process.env, RUNNER_TEMP: path.join(work, 'runner-temp') };
  for (const key of Object.keys(env)) if (key.startsWith('INPUT_')) delete env[key];
  Object.assign(env, {
    INPUT_ROOT: root,
    INPUT_IMAGE: image,
    INPUT_INSECURE: 'true',
    INPUT_PUSH: 'true',
    INPUT_MODE: 'oci',
    INPUT_TAGS: 'bench',
    'INPUT_SSH-TUNNEL': 'false',
    'INPUT_SSH-PORT': '22',
    SOURCE_DATE_EPOCH: '1700000000',
  });
  fs.mkdirSync(env.RUNNER_TEMP, { recursive: true });
  return timed(process.execPath, [path.join(project, 'dist/import-image/index.js')], { env });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function pushPhase(client, repository, layer, config, manifest) {
  const start = process.hrtime.bigint();
  await client.pushBlob(repository, { digest: layer.digest, size: layer.size, file: layer.file });
  await client.pushBlob(repository, {
    digest: config.digest,
    size: config.size,
    bytes: config.bytes,
  });
  await client.putManifest(repository, 'bench', MEDIA_TYPES.manifest, manifest);
  return seconds(start);
}

const root = path.join(work, 'root');
makeRoot(root);
const size = rootSize(root);
console.log(`root: ${(size / 1e6).toFixed(1)} MB in ${runs} runs (median)`);

const figures = { action: [], umoci: [], skopeo: [], reference: [], layer: [], tarGzip: [] };
const repush = { first: [], again: [], actionAgain: [] };
for (let run = 0; run < runs; run++) {
  // 1. Root → pushed image, each tool to a fresh registry of its own.
  const ours = await startRegistry(`ours-${run}`);
  figures.action.push(runAction(root, `${ours.address}/bench/app`));
  repush.actionAgain.push(runAction(root, `${ours.address}/bench/app`));
  ours.stop();
  const theirs = await startRegistry(`theirs-${run}`);
  const layout = path.join(work, `umoci-${run}`);
  const umoci =
    timed('umoci', ['init', '--layout', layout]) +
    timed('umoci', ['new', '--image', `${layout}:bench`]) +
    timed('umoci', ['insert', '--image', `${layout}:bench`, root, '/']);
  const skopeo = timed('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layout}:bench`,
    `docker://${theirs.address}/bench/app:bench`,
  ]);
  figures.umoci.push(umoci);
  figures.skopeo.push(skopeo);
  figures.reference.push(umoci + skopeo);
  theirs.stop();
  const blobs = path.join(layout, 'blobs/sha256');
  figures.umociBytes = Math.max(
    ...fs.readdirSync(blobs).map((f) => fs.statSync(path.join(blobs, f)).size),
  );
  fs.rmSync(layout, { recursive: true, force: true });

  // 2. Layer creation alone.
  const ourLayer = path.join(work, `layer-${run}.tar.gz`);
  let start = process.hrtime.bigint();
  const layer = await layerFromRoot(root, ourLayer, { mtimeClamp: 1700000000 });
  figures.layer.push(seconds(start));
  figures.ourBytes = layer.size;
  const theirLayer = path.join(work, `tar-${run}.tar.gz`);
  figures.tarGzip.push(
    timed('sh', ['-c', 'tar --sort=name -C "$1" -cf - . | gzip > "$2"', 'sh', root, theirLayer]),
  );
  fs.rmSync(theirLayer, { force: true });

  // 3. Push phase: first push, then the same image again.
  const registry = await startRegistry(`push-${run}`);
  const configBytes = imageConfigJson(
    { os: 'linux', architecture: 'amd64' },
    '2023-11-14T22:13:20Z',
    { labels: {} },
    [layer.diffId],
  );
  const config = {
    mediaType: MEDIA_TYPES.config,
    digest: digestOf(configBytes),
    size: configBytes.length,
    bytes: configBytes,
  };
  const manifest = imageManifestJson(config, [layer], {});
  const client = new RegistryClient({ address: registry.address, insecure: true });
  repush.first.push(await pushPhase(client, 'bench/app', layer, config, manifest));
  repush.again.push(await pushPhase(client, 'bench/app', layer, config, manifest));
  client.close();
  registry.stop();
  fs.rmSync(ourLayer, { force: true });
}

const m = (values) => median(values);
const line = (label, value) => console.log(`${label.padEnd(58)} ${value}`);
line('root → pushed image, import-image (s)', m(figures.action).toFixed(2));
line(
  'root → pushed image, umoci insert + skopeo copy (s)',
  `${m(figures.reference).toFixed(2)} (umoci ${m(figures.umoci).toFixed(2)}, skopeo ${m(figures.skopeo).toFixed(2)})`,
);
line(
  '  ratio import-image / reference (goal ≤ 1.0)',
  (m(figures.action) / m(figures.reference)).toFixed(3),
);
line(
  'layer bytes pushed, import-image (gzip -6) / umoci',
  `${(figures.ourBytes / 1e6).toFixed(1)} MB / ${(figures.umociBytes / 1e6).toFixed(1)} MB`,
);
line('layer alone, layerFromRoot (s)', m(figures.layer).toFixed(2));
line('layer alone, tar --sort=name -c | gzip (s)', m(figures.tarGzip).toFixed(2));
line(
  '  ratio layerFromRoot / tar|gzip (goal ≤ 1.2)',
  (m(figures.layer) / m(figures.tarGzip)).toFixed(3),
);
line('push phase, first push (s)', m(repush.first).toFixed(3));
line('push phase, re-push of the unchanged image (s)', m(repush.again).toFixed(3));
line('  ratio re-push / first push (goal ≤ 0.05)', (m(repush.again) / m(repush.first)).toFixed(3));
line(
  'whole action again on the unchanged root (s, information)',
  `${m(repush.actionAgain).toFixed(2)} (ratio ${(m(repush.actionAgain) / m(figures.action)).toFixed(3)}: rebuilding the layer dominates)`,
);
