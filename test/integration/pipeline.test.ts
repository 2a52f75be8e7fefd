import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseManifest } from '../../actions/core/src/manifest.js';
import { runPipeline, type PipelineResult } from '../../scripts/demo/pipeline.js';

// The main job end to end, on the same path as `scripts/demo.sh` (scripts/demo/pipeline.ts):
// each stage is an action's bundle run as the runner runs it; the outputs of one feed the next.
// The registry, sshd and podman are real; the cluster is the fleet API stand-in
// (test/helpers/fleet-standin/; docs/dev/fleet-api.md).
jest.setTimeout(600_000);

let work: string;
let result: PipelineResult;
const cleanups: Array<() => Promise<void>> = [];
const said: string[] = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'pipeline-test-'));
  await fs.chmod(work, 0o755);
  try {
    result = await runPipeline({
      workDir: work,
      arch: 'i686',
      say: (line) => said.push(line),
      onCleanup: (cleanup) => cleanups.push(cleanup),
    });
  } finally {
    // Services stop when the pipeline is over; what they made stays for the assertions.
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const out = (action: string): Record<string, string> => result.outputs[action] ?? {};

describe('the whole pipeline on the example app (i686)', () => {
  test('build-package: a Mercurial-versioned i686 package', () => {
    const built = out('build-package');
    expect(built.version).toMatch(/^1\.0\.r1\.[0-9a-f]{12}-1$/);
    expect(built.revision).toBe('1');
    expect(built.version).toContain(built.hash);
    expect(built.packages).toMatch(/hello-1\.0\.r1\.[0-9a-f]{12}-1-i686\.pkg\.tar\.xz$/);
    const info = execFileSync('pacman', ['-Qip', built.packages ?? ''], { encoding: 'utf8' });
    expect(info).toMatch(/^Architecture\s+: i686$/m);
  });

  test('make-chroot: exactly the app and its dependency, with the app record', async () => {
    const rooted = out('make-chroot');
    const version = out('build-package').version;
    expect(rooted.packages).toBe(`glibc 2.36-1\nhello ${version}`);
    expect(rooted['package-count']).toBe('2');
    const manifest = parseManifest(await fs.readFile(rooted.manifest ?? '', 'utf8'), 'manifest');
    expect(manifest.arch).toBe('i686');
    expect(manifest.app).toMatchObject({ name: 'hello', version, vcs: 'hg', revision: '1' });
    expect(
      execFileSync('chroot', [rooted.root ?? '', '/usr/bin/hello'], { encoding: 'utf8' }),
    ).toBe('Hello from arch-core\n');
  });

  test('import-image: a linux/386 image whose labels tell every constituent', () => {
    const image = out('import-image');
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(image['image-ref']).toMatch(new RegExp(`/arch-core/hello@${image.digest}$`));
    expect(image.tags?.split('\n')).toEqual([out('build-package').version, 'latest']);
    const metadata = JSON.parse(image.metadata ?? '{}') as {
      platform: string;
      labels: Record<string, string>;
    };
    expect(metadata.platform).toBe('linux/386');
    expect(metadata.labels).toMatchObject({
      'org.opencontainers.image.version': out('build-package').version,
      'org.archlinux.package.glibc': '2.36-1',
      'org.archlinux.package.hello': out('build-package').version,
    });
    // The full hash, of which build-package's hash output is the short form.
    const revision = metadata.labels['org.opencontainers.image.revision'] ?? '';
    expect(revision).toMatch(/^[0-9a-f]{40}$/);
    expect(revision.startsWith(out('build-package').hash ?? '-')).toBe(true);
  });

  test('the pushed image runs and prints the app greeting', () => {
    const ran = result.stages.find((stage) => stage.name === 'Run the image');
    expect(ran?.outputs.greeting).toBe('Hello from arch-core');
  });

  test('make-iso: both cloud-configs and ISOs, every lock-down point passing', async () => {
    const cluster = out('make-iso');
    for (const role of ['master', 'slave']) {
      const config = await fs.readFile(cluster[`${role}-cloud-config`] ?? '', 'utf8');
      expect(config.startsWith('#cloud-config\n')).toBe(true);
      const label = execFileSync('isoinfo', ['-d', '-i', cluster[`${role}-iso`] ?? ''], {
        encoding: 'utf8',
      });
      expect(label).toMatch(/^Volume id: config-2$/m);
    }
    const audit = JSON.parse(cluster.audit ?? '{}') as Record<
      string,
      { passed: boolean; points: unknown[] }
    >;
    expect(Object.keys(audit).sort()).toEqual(['master', 'slave']);
    for (const role of Object.values(audit)) {
      expect(role.passed).toBe(true);
      expect(role.points).toHaveLength(10);
    }
  });

  test('deploy-fleet: the new unit active/running on all three machines', () => {
    const deployed = out('deploy-fleet');
    expect(deployed['unit-name']).toBe('hello.service');
    expect(deployed.machines).toBe('3');
    const states = JSON.parse(deployed.states ?? '[]') as Array<{
      address: string;
      activeState: string;
      subState: string;
      hash: string;
    }>;
    expect(states.map((state) => state.address).sort()).toEqual([
      '10.0.0.10',
      '10.0.0.11',
      '10.0.0.12',
    ]);
    for (const state of states) {
      expect([state.activeState, state.subState]).toEqual(['active', 'running']);
      expect(state.hash).toBe(states[0]?.hash);
    }
  });

  test('the summary names the version, the digest and every machine; each stage was timed', () => {
    expect(result.summaryLines.join('\n')).toContain(out('import-image')['image-ref']);
    expect(result.summaryLines.filter((line) => line.includes('active/running'))).toHaveLength(3);
    expect(result.stages.map((stage) => stage.name)).toHaveLength(6);
    for (const stage of result.stages) expect(stage.seconds).toBeGreaterThan(0);
  });
});
