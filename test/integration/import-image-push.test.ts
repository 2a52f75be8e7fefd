import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startFaultProxy, startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(180_000);

let work: string;
let registry: TestRegistry;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-push-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function skopeoInspect(reference: string, raw = false): Record<string, unknown> {
  const args = [
    'inspect',
    '--tls-verify=false',
    ...(raw ? ['--raw'] : []),
    `docker://${reference}`,
  ];
  return JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8' })) as Record<string, unknown>;
}

describe('import-image pushes a root to a real registry', () => {
  test('skopeo inspect shows the tags, labels, platform and digest the action output', async () => {
    const root = path.join(work, 'root-a');
    await makeAppRoot(root);
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/hello`,
      insecure: 'true',
      labels: 'com.example.team=platform',
      annotations: 'org.example.note=from-test',
      cmd: '/usr/bin/hello',
    });
    expect(result.log).not.toMatch(/::error::/);
    expect(result.code).toBe(0);
    const { outputs } = result;
    expect(outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(outputs['image-ref']).toBe(`${registry.address}/team/hello@${outputs.digest}`);
    expect(outputs.tags?.split('\n')).toEqual(['1.2.r14.0a1b2c3d4e5f-1', 'latest']);
    expect(outputs['layer-digest']).toMatch(/^sha256:/);
    expect(Number(outputs['size-bytes'])).toBeGreaterThan(1000);
    expect(result.summary).toContain('glibc');

    const inspected = skopeoInspect(`${registry.address}/team/hello:latest`);
    expect(inspected.Digest).toBe(outputs.digest);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Os).toBe('linux');
    // And the referrers tag that lists the provenance (import-image-provenance.test.ts).
    expect([...(inspected.RepoTags as string[])].sort()).toEqual([
      '1.2.r14.0a1b2c3d4e5f-1',
      'latest',
      outputs.digest!.replace(':', '-'),
    ]);
    const labels = inspected.Labels as Record<string, string>;
    expect(labels).toMatchObject({
      'org.opencontainers.image.version': '1.2.r14.0a1b2c3d4e5f-1',
      'org.opencontainers.image.revision': '0a1b2c3d4e5f',
      'org.opencontainers.image.created': '2026-11-25T10:00:00Z',
      'org.opencontainers.image.title': 'hello',
      'org.archlinux.package.hello': '1.2.r14.0a1b2c3d4e5f-1',
      'org.archlinux.package.glibc': '2.39-1',
      'org.archlinux.package.filesystem': '2024.04.07-1',
      'com.example.team': 'platform',
    });
    const metadata = JSON.parse(outputs.metadata ?? '{}') as { labels: Record<string, string> };
    expect(metadata.labels).toEqual(labels);
    const manifest = skopeoInspect(`${registry.address}/team/hello:1.2.r14.0a1b2c3d4e5f-1`, true);
    expect(manifest.annotations).toEqual({ 'org.example.note': 'from-test' });
    expect((manifest.config as { digest: string }).digest).toBe(outputs['config-digest']);
    // The manifest file and the binary are inside the image, owned by root, setuid kept.
    const layout = path.join(work, 'copied');
    execFileSync('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${registry.address}/team/hello:latest`,
      `oci:${layout}:latest`,
    ]);
    const blob = path.join(layout, 'blobs/sha256', (outputs['layer-digest'] ?? '').slice(7));
    const listing = execFileSync('tar', ['-tvzf', blob, '--numeric-owner'], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rwsr-xr-x 0\/0 .* usr\/bin\/setuid-tool$/m);
    expect(listing).toMatch(/usr\/share\/arch-core\/manifest\.json$/m);
    expect(listing).toMatch(
      /^hrw-r--r-- 0\/0 .* etc\/hello\.conf\.hardlink link to etc\/hello\.conf$/m,
    );
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* usr\/bin\/app -> \/usr\/bin\/hello$/m);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
  });

  test('two copies of the same root give the same digest; a re-push uploads no blob bytes', async () => {
    const one = path.join(work, 'copy-one');
    const two = path.join(work, 'copy-two');
    await makeAppRoot(one, { name: 'repro' });
    execFileSync('cp', ['-a', one, two]);
    // Different mtimes (later than the clamp) and a different owner must not matter.
    execFileSync('touch', [path.join(two, 'etc/hello.conf')]);
    execFileSync('chown', ['-R', '1234:1234', two]);
    execFileSync('chmod', ['4755', path.join(two, 'usr/bin/setuid-tool')]); // chown cleared it
    const proxy = await startFaultProxy(registry.port);
    try {
      const image = `${proxy.address}/team/repro`;
      // Each run's provenance is its own (its start and finish times): not attached here.
      const inputs = { image, insecure: 'true', provenance: 'false' };
      const first = await runBundle('import-image', { root: one, ...inputs });
      expect(first.code).toBe(0);
      const firstBytes = proxy.uploadedBytes();
      expect(firstBytes).toBeGreaterThanOrEqual(Number(first.outputs['size-bytes']));
      const second = await runBundle('import-image', { root: two, ...inputs });
      expect(second.code).toBe(0);
      expect(second.outputs.digest).toBe(first.outputs.digest);
      expect(second.outputs['layer-digest']).toBe(first.outputs['layer-digest']);
      expect(proxy.uploadedBytes()).toBe(firstBytes);
      expect(second.log).toMatch(/is already there/);
      expect(
        proxy.requests().filter((r) => r.startsWith('PUT /v2/team/repro/manifests/')),
      ).toHaveLength(4);
    } finally {
      await proxy.stop();
    }
  });

  test('a tarball gives the same image as its root; output writes an OCI layout and archive', async () => {
    const root = path.join(work, 'root-tar');
    await makeAppRoot(root, { name: 'tarred' });
    const tarball = path.join(work, 'root.tar.gz');
    execFileSync('tar', ['-czf', tarball, '--owner=1000', '--group=1000', '-C', root, '.']);
    const layoutDir = path.join(work, 'layout');
    const fromRoot = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/tarred`,
      push: 'false',
      output: layoutDir,
    });
    expect(fromRoot.code).toBe(0);
    expect(fromRoot.outputs.layout).toBe(layoutDir);
    const copied = execFileSync('skopeo', ['inspect', `oci:${layoutDir}:1.2.r14.0a1b2c3d4e5f-1`], {
      encoding: 'utf8',
    });
    expect(JSON.parse(copied).Digest).toBe(fromRoot.outputs.digest);
    const archive = path.join(work, 'image.tar');
    const fromTarball = await runBundle('import-image', {
      tarball,
      image: `${registry.address}/team/tarred`,
      insecure: 'true',
      output: archive,
    });
    expect(fromTarball.code).toBe(0);
    // The tarball's own entry order differs from ours, so only the labels must agree.
    const labels = (JSON.parse(fromTarball.outputs.metadata ?? '{}') as { labels: unknown }).labels;
    expect(labels).toEqual(
      (JSON.parse(fromRoot.outputs.metadata ?? '{}') as { labels: unknown }).labels,
    );
    const listing = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' });
    expect(listing).toMatch(/^index\.json$/m);
    expect(listing).toMatch(/^oci-layout$/m);
    const inspected = skopeoInspect(`${registry.address}/team/tarred:latest`);
    expect(inspected.Digest).toBe(fromTarball.outputs.digest);
    const blob = path.join(work, 'tar-layer.tgz');
    execFileSync('sh', [
      '-c',
      `tar -xOf "$1" "blobs/sha256/$2" > "$3"`,
      'sh',
      archive,
      (fromTarball.outputs['layer-digest'] ?? '').slice(7),
      blob,
    ]);
    const entries = execFileSync('tar', ['-tvzf', blob, '--numeric-owner'], { encoding: 'utf8' });
    expect(entries).not.toMatch(/ 1000\/1000 /);
    expect(entries).toMatch(/ 0\/0 /);
  });
});
