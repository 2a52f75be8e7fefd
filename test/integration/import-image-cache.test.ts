import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// cache-dir: a second run over the same root compresses nothing and gives the same digest; a
// corrupt entry (changed bytes, truncated, missing blob) is detected, rebuilt and never pushed.
jest.setTimeout(300_000);

let work: string;
let registry: TestRegistry;
let root: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-cache-'));
  registry = await startRegistry();
  root = path.join(work, 'root');
  await makeAppRoot(root);
  // Some bytes that take compressing, so a cache hit is visible in the layer's size.
  const random = createHash('sha512');
  const data = Buffer.alloc(4 * 1024 * 1024);
  for (let offset = 0; offset < data.length; offset += 64) {
    random.copy().update(String(offset)).digest().copy(data, offset);
  }
  await fs.writeFile(path.join(root, 'usr/bin/data'), data);
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function push(image: string, cacheDir: string, extra: Record<string, string> = {}) {
  return runBundle('import-image', {
    root,
    image: `${registry.address}/${image}`,
    insecure: 'true',
    tags: 'v1',
    'cache-dir': cacheDir,
    ...extra,
  });
}

/** The blob as the registry serves it. */
function registryBlob(repository: string, digest: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${registry.address}/v2/${repository}/blobs/${digest}`, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`HTTP ${response.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function layerDigests(reference: string): string[] {
  const raw = JSON.parse(
    execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reference}`], {
      encoding: 'utf8',
    }),
  ) as { layers: Array<{ digest: string }> };
  return raw.layers.map((layer) => layer.digest);
}

describe('cache-dir', () => {
  test('the second run compresses nothing, uploads nothing and gives the same digest', async () => {
    const cacheDir = path.join(work, 'cache-a');
    const output = path.join(work, 'layout-a');
    const first = await push('cache/same', cacheDir);
    expect(errorLines(first.log)).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.log).toMatch(/layer: diffID sha256:[a-f0-9]{64} is not in the cache; compressing/);
    expect(first.log).not.toMatch(/compressed nothing/);
    const blob = path.join(
      cacheDir,
      'blobs/sha256',
      (first.outputs['layer-digest'] ?? '').slice(7),
    );
    expect(sha256(await fs.readFile(blob))).toBe(first.outputs['layer-digest']);

    const second = await push('cache/same', cacheDir, { output });
    expect(errorLines(second.log)).toEqual([]);
    expect(second.code).toBe(0);
    expect(second.log).toMatch(/compressed nothing: every layer came from the cache/);
    expect(second.log).toMatch(/uploaded 0 B of blobs/);
    expect(second.outputs.digest).toBe(first.outputs.digest);
    expect(second.outputs['layer-digest']).toBe(first.outputs['layer-digest']);
    // The layout written from the cache holds the same layer bytes.
    const inLayout = path.join(
      output,
      'blobs/sha256',
      (first.outputs['layer-digest'] ?? '').slice(7),
    );
    expect(sha256(await fs.readFile(inLayout))).toBe(first.outputs['layer-digest']);

    // Without the cache the same root still gives the same digest: the cache changes nothing.
    const uncached = await runBundle('import-image', {
      root,
      image: `${registry.address}/cache/same`,
      push: 'false',
      tags: 'v1',
      output: path.join(work, 'layout-uncached'),
    });
    expect(uncached.code).toBe(0);
    expect(uncached.outputs.digest).toBe(first.outputs.digest);
  });

  const corruptions: Array<[string, (blob: string) => Promise<void>, RegExp]> = [
    [
      'changed bytes in its blob',
      async (blob) => {
        const handle = await fs.open(blob, 'r+');
        await handle.write(Buffer.from('corrupt!'), 0, 8, 4096);
        await handle.close();
      },
      /its blob's sha256 is sha256:/,
    ],
    ['a truncated blob', (blob) => fs.truncate(blob, 1000), /its blob has 1000 bytes, not \d+/],
    ['a missing blob', (blob) => fs.rm(blob), /its blob is missing/],
  ];

  test.each(corruptions)(
    'a cache entry with %s is detected and rebuilt, never pushed',
    async (name, corrupt, problem) => {
      const cacheDir = path.join(work, `cache-${name.replace(/ /g, '-')}`);
      const primed = await runBundle('import-image', {
        root,
        image: `${registry.address}/cache/primed`,
        push: 'false',
        tags: 'v1',
        output: path.join(work, `primed-${name.replace(/ /g, '-')}`),
        'cache-dir': cacheDir,
      });
      expect(primed.code).toBe(0);
      const digest = primed.outputs['layer-digest'] as string;
      const blob = path.join(cacheDir, 'blobs/sha256', digest.slice(7));
      await corrupt(blob);

      // A repository that lacks the blob, so the layer must be uploaded.
      const repository = `cache/corrupt-${name.replace(/ /g, '-')}`;
      const result = await push(repository, cacheDir);
      expect(errorLines(result.log)).toEqual([]);
      expect(result.code).toBe(0);
      expect(result.log).toMatch(/::warning::cache-dir: layer: the cache entry was corrupt/);
      expect(result.log).toMatch(problem);
      expect(result.log).not.toMatch(/compressed nothing/);
      expect(result.outputs['layer-digest']).toBe(digest);
      expect(result.outputs.digest).toBe(primed.outputs.digest);
      // What the registry holds is the layer, byte for byte; skopeo reads the same image.
      expect(sha256(await registryBlob(repository, digest))).toBe(digest);
      expect(layerDigests(`${registry.address}/${repository}:v1`)).toEqual([digest]);
      // The rebuilt entry is whole again.
      expect(sha256(await fs.readFile(blob))).toBe(digest);
    },
  );

  test('cache-fingerprint: an unchanged tree is not even read; a changed one is', async () => {
    const tree = path.join(work, 'fingerprinted');
    execFileSync('cp', ['-a', root, tree]);
    const cacheDir = path.join(work, 'cache-fingerprint');
    const run = () =>
      runBundle('import-image', {
        root: tree,
        image: `${registry.address}/cache/fingerprint`,
        insecure: 'true',
        tags: 'v1',
        'cache-dir': cacheDir,
        'cache-fingerprint': 'true',
      });
    const first = await run();
    expect(errorLines(first.log)).toEqual([]);
    expect(first.log).not.toMatch(/fingerprint is known/);
    const second = await run();
    expect(second.log).toMatch(/layer: the tree's fingerprint is known; its tar was not read/);
    expect(second.log).toMatch(/compressed nothing: every layer came from the cache/);
    expect(second.outputs.digest).toBe(first.outputs.digest);
    await fs.appendFile(path.join(tree, 'etc/hello.conf'), 'changed = yes\n');
    const changed = await run();
    expect(errorLines(changed.log)).toEqual([]);
    expect(changed.log).not.toMatch(/fingerprint is known/);
    expect(changed.log).not.toMatch(/compressed nothing/);
    expect(changed.outputs['layer-digest']).not.toBe(first.outputs['layer-digest']);
  });

  test('a cache-dir that is a file is refused', async () => {
    const file = path.join(work, 'not-a-dir');
    await fs.writeFile(file, 'x');
    const result = await push('cache/refused', file);
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "cache-dir": ${file} is not a directory (give a directory, made if missing).`,
    ]);
  });
});
