import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import {
  startFaultProxy,
  startRegistry,
  type Fault,
  type FaultProxy,
  type TestRegistry,
} from '../helpers/registry.js';
import { sha256File } from '../../actions/core/src/files.js';
import type { LocalRunResult } from '../../actions/cli/src/local-runner.js';

// A layer is uploaded while it is compressed once 32 MiB of it are written, when its tags are
// new to the repository (early-upload.ts). Real registry, skopeo as the independent reader.
jest.setTimeout(180_000);

let work: string;
let root: string;
let registry: TestRegistry;
/** Incompressible, so the layer passes the 32 MiB at which the upload begins. */
const BLOB_BYTES = 40 * 1024 * 1024;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-early-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
  await fs.writeFile(path.join(root, 'usr/bin/blob'), randomBytes(BLOB_BYTES));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** skopeo copies the image out (checking every blob's digest); the layer's sha256 and size. */
async function copiedLayer(
  reference: string,
  into: string,
): Promise<{ digest: string; size: number }> {
  execFileSync('skopeo', [
    'copy',
    '--src-tls-verify=false',
    `docker://${reference}`,
    `dir:${into}`,
  ]);
  const manifest = JSON.parse(await fs.readFile(path.join(into, 'manifest.json'), 'utf8')) as {
    layers: Array<{ digest: string; size: number }>;
  };
  return manifest.layers[0] as { digest: string; size: number };
}

async function sha256Of(file: string): Promise<string> {
  return `sha256:${await sha256File(file)}`;
}

/** Pushes the root as `repository:v1` through a proxy (with `fault`); checks it succeeded. */
async function pushThroughProxy(
  repository: string,
  fault: Fault,
  check: (result: LocalRunResult, proxy: FaultProxy) => Promise<void>,
): Promise<void> {
  const proxy = await startFaultProxy(registry.port, fault);
  try {
    const image = `${proxy.address}/${repository}`;
    const result = await runBundle('import-image', { root, image, insecure: 'true', tags: 'v1' });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    await check(result, proxy);
  } finally {
    await proxy.stop();
  }
}

describe('import-image uploads a large layer while compressing it', () => {
  test('a new tag: the layer goes up during compression, once, and reads back whole', async () => {
    await pushThroughProxy('early/app', 'none', async (result, proxy) => {
      const layerDigest = result.outputs['layer-digest'] as string;
      expect(result.log).toContain('layer: uploading while compressing');
      expect(result.log).toMatch(
        new RegExp(`layer: ${layerDigest} uploaded while it was compressed \\(\\d+ bytes\\)`),
      );
      expect(result.log).toContain(`blob ${layerDigest.slice(0, 19)} (`);
      // Sent once: nothing uploaded again after compression.
      const size = Number(result.outputs['size-bytes']);
      expect(size).toBeGreaterThan(BLOB_BYTES);
      expect(proxy.uploadedBytes()).toBeLessThan(size + 1024 * 1024);
      expect(proxy.requests().filter((r) => r.startsWith('PATCH')).length).toBeGreaterThan(1);
      const out = path.join(work, 'copied-new');
      const layer = await copiedLayer(`${registry.address}/early/app:v1`, out);
      expect(layer).toMatchObject({ digest: layerDigest, size });
      expect(await sha256Of(path.join(out, layerDigest.replace('sha256:', '')))).toBe(layerDigest);
    });
  });

  // v1 is there: the test above pushed it.
  test('a tag already there: the blob is checked after compression, not uploaded again', async () => {
    await pushThroughProxy('early/app', 'none', async (result, proxy) => {
      expect(result.log).toContain(
        'layer: not uploaded while compressing (the tag v1 is already in the repository); pushed once compressed',
      );
      expect(result.log).toMatch(/blob sha256:[0-9a-f]{12} \(\d+ bytes\) is already there/);
      expect(proxy.requests().filter((r) => r.startsWith('PATCH'))).toEqual([]);
      expect(proxy.uploadedBytes()).toBeLessThan(64 * 1024);
    });
  });

  test('a reset during the early upload: it is given up and the layer pushed from the file', async () => {
    await pushThroughProxy('early/reset', 'reset-once-mid-upload', async (result, proxy) => {
      expect(proxy.faults()).toBe(1);
      expect(result.log).toMatch(
        /layer: not uploaded while compressing \(it failed \(PATCH [^\n]*ECONNRESET[^\n]*\)\); pushed once compressed/,
      );
      const layerDigest = result.outputs['layer-digest'] as string;
      expect(result.log).toMatch(
        new RegExp(`blob ${layerDigest.slice(0, 19)}: uploaded \\d+ bytes \\(chunked\\)`),
      );
      // The abandoned session was cancelled.
      expect(
        proxy.requests().some((r) => r.startsWith('DELETE /v2/early/reset/blobs/uploads/')),
      ).toBe(true);
      const out = path.join(work, 'copied-reset');
      const layer = await copiedLayer(`${registry.address}/early/reset:v1`, out);
      expect(layer.digest).toBe(layerDigest);
      expect(await sha256Of(path.join(out, layerDigest.replace('sha256:', '')))).toBe(layerDigest);
    });
  });
});
