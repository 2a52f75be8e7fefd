import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBundle } from '../helpers/bundle.js';
import { podmanGlobalArgs, PODMAN_RUN_ARGS } from '../helpers/import-image-podman.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(240_000);

let work: string;
let registry: TestRegistry;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-run-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function podman(args: string[]): string {
  return execFileSync('podman', [...podmanGlobalArgs(path.join(work, 'podman')), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('the pushed image runs: podman pulls it and runs the app', () => {
  test.each([
    ['x86_64' as const, 'amd64', /ELF 64-bit/],
    ['i686' as const, '386', /ELF 32-bit/],
  ])('%s (linux/%s)', async (arch, goArch, elf) => {
    const root = path.join(work, `root-${arch}`);
    const text = `Hello from the ${arch} image`;
    await makeAppRoot(root, { arch, text });
    expect(execFileSync('file', [path.join(root, 'usr/bin/hello')], { encoding: 'utf8' })).toMatch(
      elf,
    );
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/run/hello-${arch.replace('_', '-')}`,
      insecure: 'true',
      tags: 'v1',
      cmd: '/usr/bin/hello',
    });
    expect(result.code).toBe(0);
    const metadata = JSON.parse(result.outputs.metadata ?? '{}') as { platform: string };
    expect(metadata.platform).toBe(`linux/${goArch}`);
    const reference = `${registry.address}/run/hello-${arch.replace('_', '-')}@${result.outputs.digest}`;
    podman(['pull', '--tls-verify=false', '--arch', goArch, reference]);
    const inspected = JSON.parse(podman(['image', 'inspect', reference])) as Array<{
      Architecture: string;
      Labels: Record<string, string>;
    }>;
    expect(inspected[0]?.Architecture).toBe(goArch);
    expect(inspected[0]?.Labels['org.archlinux.arch']).toBe(arch);
    const output = podman(['run', ...PODMAN_RUN_ARGS, reference]);
    expect(output.trim()).toBe(text);
  });
});
