import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseManifest } from '../../actions/core/src/manifest.js';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// The pipeline's make-chroot → import-image steps, each bundle driven as the runner drives it:
// fixture packages built with real makepkg into a repo-add repository, make-chroot installs them
// with pacman into a root (and a tarball), import-image takes make-chroot's outputs as they are.
jest.setTimeout(300_000);

let work: string;
let runnerTemp: string;
let repo: FixtureRepo;
let registry: TestRegistry;
let chroot: Record<string, string>;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-chain-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  registry = await startRegistry();
  repo = await buildFixtureRepo({
    dir: path.join(work, 'fixtures'),
    arch: 'x86_64',
    repoName: 'fixtures',
    packages: [
      {
        name: 'greeter',
        version: '2.1',
        depends: ['greeter-data'],
        program: { prints: 'Hello from the chain' },
      },
      {
        name: 'greeter-data',
        version: '0.3',
        arch: 'any',
        files: { 'usr/share/greeter/data': 'data\n' },
      },
    ],
  });
  const made = await runBundle(
    'make-chroot',
    {
      packages: 'greeter',
      repos: `fixtures=${repo.repoDir}`,
      mirror: 'none',
      arch: 'x86_64',
      app: 'greeter',
      root: path.join(work, 'root'),
      tarball: path.join(work, 'root.tar'),
    },
    { RUNNER_TEMP: runnerTemp },
  );
  if (made.code !== 0) throw new Error(`make-chroot failed:\n${made.log}`);
  chroot = made.outputs;
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function inspect(reference: string): { Digest: string; Labels: Record<string, string> } {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as { Digest: string; Labels: Record<string, string> };
}

describe("import-image after make-chroot, through make-chroot's outputs", () => {
  test('root: every constituent package is a label, tagged with the app version', async () => {
    const manifest = parseManifest(
      await fs.readFile(chroot.manifest as string, 'utf8'),
      'manifest',
    );
    const result = await runBundle(
      'import-image',
      { root: chroot.root as string, image: `${registry.address}/chain/greeter`, insecure: 'true' },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    const version = manifest.app?.version as string;
    expect(version).toMatch(/^2\.1-1$/);
    expect(result.outputs.tags).toBe(`${version}\nlatest`);
    const inspected = inspect(`${registry.address}/chain/greeter:${version}`);
    expect(inspected.Digest).toBe(result.outputs.digest);
    expect(manifest.packages.map((p) => p.name)).toEqual(['greeter', 'greeter-data']);
    for (const p of manifest.packages) {
      expect(inspected.Labels[`org.archlinux.package.${p.name}`]).toBe(p.version);
    }
    expect(inspected.Labels['org.opencontainers.image.version']).toBe(version);
    expect(inspected.Labels['org.opencontainers.image.title']).toBe('greeter');
  });

  test("tarball + manifest: make-chroot's tarball gives an image with the same labels", async () => {
    const fromRoot = await runBundle(
      'import-image',
      {
        root: chroot.root as string,
        image: `${registry.address}/chain/a`,
        push: 'false',
        output: path.join(work, 'a'),
      },
      { RUNNER_TEMP: runnerTemp },
    );
    const fromTarball = await runBundle(
      'import-image',
      {
        tarball: chroot.tarball as string,
        manifest: chroot.manifest as string,
        image: `${registry.address}/chain/greeter-tar`,
        insecure: 'true',
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(errorLines(fromTarball.log)).toEqual([]);
    expect(fromTarball.code).toBe(0);
    const labelsOf = (outputs: Record<string, string>): unknown =>
      (JSON.parse(outputs.metadata ?? '{}') as { labels: unknown }).labels;
    expect(labelsOf(fromTarball.outputs)).toEqual(labelsOf(fromRoot.outputs));
    expect(inspect(`${registry.address}/chain/greeter-tar:latest`).Digest).toBe(
      fromTarball.outputs.digest,
    );
  });
});
