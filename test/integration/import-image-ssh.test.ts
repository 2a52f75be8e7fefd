import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startCuttableTcpProxy } from '../helpers/fault-proxies.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { sshTunnelInputs, startSshd, type Sshd } from '../helpers/sshd.js';

jest.setTimeout(180_000);

let work: string;
let root: string;
let registry: TestRegistry;
let sshd: Sshd;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-ssh-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
  registry = await startRegistry();
  // DEBUG1 makes sshd log each direct-tcpip channel it opens.
  sshd = await startSshd({ config: ['LogLevel DEBUG1'] });
});
afterAll(async () => {
  await sshd?.stop();
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function tunnelInputs(knownHosts: string): Record<string, string> {
  return {
    root,
    // The registry's address as the SSH host sees it (on the master it listens on loopback).
    image: `${registry.address}/tunnel/hello`,
    insecure: 'true',
    ...sshTunnelInputs(sshd, knownHosts),
  };
}

describe('import-image through ssh-tunnel to a real sshd', () => {
  test('pushes through the tunnel; the outputs name the image as given', async () => {
    const result = await runBundle('import-image', tunnelInputs(sshd.knownHosts));
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    const forwarded = /is reached at 127\.0\.0\.1:(\d+)/.exec(result.log)?.[1];
    expect(forwarded).toBeDefined();
    expect(Number(forwarded)).not.toBe(registry.port);
    expect(sshd.log()).toMatch(
      new RegExp(
        `direct-tcpip.*127\\.0\\.0\\.1 port ${registry.port}|target 127\\.0\\.0\\.1 port ${registry.port}`,
      ),
    );
    expect(result.outputs['image-ref']).toBe(
      `${registry.address}/tunnel/hello@${result.outputs.digest}`,
    );
    const out = execFileSync(
      'skopeo',
      ['inspect', '--tls-verify=false', `docker://${registry.address}/tunnel/hello:latest`],
      { encoding: 'utf8' },
    );
    expect((JSON.parse(out) as { Digest: string }).Digest).toBe(result.outputs.digest);
    const keyLine = sshd.privateKey
      .split('\n')
      .find((line) => line.length > 20 && !line.startsWith('-----'));
    expect(result.log.replace(/^::add-mask::.*$/gm, '')).not.toContain(keyLine as string);
    // The run closed its tunnel and removed its temporaries itself: nothing for the post step.
    expect(result.post?.code).toBe(0);
    expect(result.post?.log).toContain('the run released everything it held; nothing to clean up');
  });

  test('a wrong known-hosts entry is refused, naming both fingerprints', async () => {
    const other = await sshd.makeKeyPair('ed25519');
    const wrong = `[127.0.0.1]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`;
    const result = await runBundle('import-image', tunnelInputs(wrong));
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/SHA256:/);
    expect(errors[0]).toContain(sshd.hostKeyFingerprints[0] as string);
    expect(result.log).not.toMatch(/is reached at/);
  });

  test('the SSH path gone silent under the push: keepalives tell, one error naming it', async () => {
    const proxy = await startCuttableTcpProxy(sshd.port);
    try {
      const knownHosts = sshd.knownHosts.replaceAll(
        `[127.0.0.1]:${sshd.port}`,
        `[127.0.0.1]:${proxy.port}`,
      );
      const image = `${registry.address}/tunnel/silent`;
      let log = '';
      const started = Date.now();
      const result = await runBundle(
        'import-image',
        { ...tunnelInputs(knownHosts), image, 'ssh-port': String(proxy.port), timeout: '60' },
        // Keepalives every 500 ms: the path is declared dead 2 s after its last answer.
        { ARCH_CORE_SSH_KEEPALIVE_MS: '500' },
        {
          // Silent from the moment the tunnel is up, before the push's first request.
          onOutput: (text) => {
            log += text;
            if (/is reached at 127\.0\.0\.1/.test(log)) proxy.blackHole();
          },
        },
      );
      expect(result.code).toBe(1);
      const errors = errorLines(result.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /The SSH tunnel to the registry was lost \(no answer from the host for 2 s \(3 keepalives unanswered\): the network path or the host is gone\): /,
      );
      expect(result.log).toMatch(/::warning::The SSH connection to \[127\.0\.0\.1\]:\d+ is lost: /);
      // Ended by the keepalives and the registry client's bounded retries, not the timeout.
      expect(Date.now() - started).toBeLessThan(45_000);
      expect(proxy.accepted).toBe(1);
      // Nothing reached the registry: no tag names the image.
      expect(() =>
        execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${image}:latest`], {
          stdio: 'pipe',
        }),
      ).toThrow();
      expect(result.post?.code).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});
