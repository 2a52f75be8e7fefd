import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { freePort } from '../helpers/process.js';
import { startFaultProxy, startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(180_000);

let work: string;
let root: string;
let registry: TestRegistry;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-faults-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
  // Enough incompressible bytes that the layer is uploaded in several chunks.
  await fs.writeFile(path.join(root, 'usr/bin/blob'), randomBytes(3_000_000));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function inspectDigest(reference: string): string {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`], {
    encoding: 'utf8',
  });
  return (JSON.parse(out) as { Digest: string }).Digest;
}

describe('import-image survives transient registry failures', () => {
  test.each([
    ['reset-once-mid-upload' as const, 'monolithic'],
    ['reset-once-mid-upload' as const, 'chunked'],
    ['503-once' as const, 'monolithic'],
  ])(
    'a proxy that injects %s (%s upload): the push completes with the right digest',
    async (fault, how) => {
      const proxy = await startFaultProxy(registry.port, fault);
      try {
        const repository = `faults/${fault.replace(/[^a-z0-9]/g, '')}${how}`;
        const image = `${proxy.address}/${repository}`;
        const env = how === 'chunked' ? { ARCH_CORE_REGISTRY_CHUNK_BYTES: '1048576' } : {};
        const result = await runBundle(
          'import-image',
          { root, image, insecure: 'true', tags: 'v1' },
          env,
        );
        expect(errorLines(result.log)).toEqual([]);
        expect(result.code).toBe(0);
        expect(proxy.faults()).toBe(1);
        expect(result.log).toMatch(/retry 1 of 5/);
        if (how === 'chunked') {
          expect(proxy.requests().filter((r) => r.startsWith('PATCH')).length).toBeGreaterThan(2);
        }
        // Straight to the registry: a synchronous skopeo cannot go through this process's proxy.
        expect(inspectDigest(`${registry.address}/${repository}:v1`)).toBe(result.outputs.digest);
      } finally {
        await proxy.stop();
      }
    },
  );

  test("a plain-HTTP registry without insecure gets a hint, not OpenSSL's error", async () => {
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/plain/app`,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `The registry at ${registry.address} answers plain HTTP: set insecure: true (only for a loopback registry or one reached through the SSH tunnel).`,
    ]);
    expect(result.log).not.toContain('wrong version number');
  });

  test('an unreachable registry fails clearly in bounded time', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await runBundle('import-image', {
      root,
      image: `127.0.0.1:${port}/nowhere/app`,
      insecure: 'true',
    });
    const seconds = (Date.now() - started) / 1000;
    expect(result.code).toBe(1);
    expect(seconds).toBeLessThan(60);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(
        `Registry 127\\.0\\.0\\.1:${port}: connect failed after 6 attempts: .*ECONNREFUSED`,
      ),
    );
    expect(result.log).not.toMatch(/\n\s+at /);
  });
});

describe('import-image against an htpasswd-protected registry', () => {
  const password = 'S3cret-pa55word-for-test';
  let secured: TestRegistry;
  beforeAll(async () => {
    secured = await startRegistry({ htpasswd: { user: 'pusher', password } });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  test('the right password pushes and never shows in the log', async () => {
    const result = await runBundle('import-image', {
      root,
      image: `${secured.address}/private/app`,
      insecure: 'true',
      'registry-username': 'pusher',
      'registry-password': password,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toContain(`::add-mask::${password}`);
    const withoutMask = result.log.replaceAll(`::add-mask::${password}`, '');
    expect(withoutMask).not.toContain(password);
    expect(withoutMask).not.toContain(Buffer.from(`pusher:${password}`).toString('base64'));
    expect(result.summary).not.toContain(password);
    expect(JSON.stringify(result.outputs)).not.toContain(password);
    const out = execFileSync(
      'skopeo',
      [
        'inspect',
        '--tls-verify=false',
        '--creds',
        `pusher:${password}`,
        `docker://${secured.address}/private/app:latest`,
      ],
      { encoding: 'utf8' },
    );
    expect((JSON.parse(out) as { Digest: string }).Digest).toBe(result.outputs.digest);
  });

  test('a wrong password fails at once, naming the registry and the user', async () => {
    const wrong = 'not-the-password-42';
    const started = Date.now();
    const result = await runBundle('import-image', {
      root,
      image: `${secured.address}/private/app`,
      insecure: 'true',
      'registry-username': 'pusher',
      'registry-password': wrong,
    });
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      `Registry ${secured.address} refused the credentials of user "pusher" (HTTP 401`,
    );
    expect(result.log).not.toMatch(/retry/);
    expect(result.log.replaceAll(`::add-mask::${wrong}`, '')).not.toContain(wrong);
  });

  test('no credentials: the error says which inputs to give', async () => {
    const result = await runBundle('import-image', {
      root,
      image: `${secured.address}/private/app`,
      insecure: 'true',
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)[0]).toMatch(
      /requires authentication .* registry-username and registry-password/,
    );
  });
});

describe('the push is bounded by timeout', () => {
  test('a registry that accepts connections and never answers: fails at the deadline, nothing pushed', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const result = await runBundle('import-image', {
        root,
        image: `127.0.0.1:${port}/faults/silent`,
        insecure: 'true',
        tags: 'v1',
        timeout: '4',
      });
      const seconds = (Date.now() - started) / 1000;
      expect(result.code).toBe(1);
      const errors = errorLines(result.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        new RegExp(
          `^The push to 127\\.0\\.0\\.1:${port} did not finish within timeout \\(4 s\\): .*GET /v2/.*\\. Pushed: nothing; not pushed: layer sha256:[0-9a-f]{64}, config sha256:[0-9a-f]{64}, tag v1, application/vnd\\.in-toto\\+json\\.$`,
        ),
      );
      expect(held.length).toBeGreaterThan(0);
      // The layer is made before the push; the deadline ends the push itself within seconds.
      expect(seconds).toBeLessThan(60);
      expect(result.outputs).toEqual({});
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a tag PUT never answered: the blobs are in, no tag names the image', async () => {
    const proxy = await startFaultProxy(registry.port, 'stall-manifest-put');
    try {
      const result = await runBundle('import-image', {
        root,
        image: `${proxy.address}/faults/stalltag`,
        insecure: 'true',
        tags: 'v1 v2',
        timeout: '8',
      });
      expect(result.code).toBe(1);
      const errors = errorLines(result.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /did not finish within timeout \(8 s\): .*PUT \/v2\/faults\/stalltag\/manifests\/v1.*\. Pushed: layer sha256:[0-9a-f]{64}, config sha256:[0-9a-f]{64}; not pushed: tag v1, tag v2, application\/vnd\.in-toto\+json\.$/,
      );
      expect(proxy.faults()).toBe(1);
      for (const tag of ['v1', 'v2']) {
        expect(() => inspectDigest(`${registry.address}/faults/stalltag:${tag}`)).toThrow();
      }
    } finally {
      await proxy.stop();
    }
  });

  test.each(['0', '-1', 'soon'])('timeout %j is an input error', async (timeout) => {
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/faults/badtimeout`,
      insecure: 'true',
      timeout,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      expect.stringMatching(/^Input "timeout": .* an integer from 1 to 86400/),
    ]);
  });
});
