import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { podmanGlobalArgs, PODMAN_RUN_ARGS } from '../helpers/import-image-podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// layers: app on roots make-chroot made from real packages: the app on top of its dependencies,
// run by podman; after an app-only rebuild the registry receives only the small layer and the
// config, and podman pulls only those.
jest.setTimeout(600_000);

let work: string;
let runnerTemp: string;
let registry: TestRegistry;
let first: FixtureRepo;
let update: FixtureRepo;

/** 3 MiB that do not compress to nothing: the dependency's weight. */
function bulkyData(): Buffer {
  const data = Buffer.alloc(3 * 1024 * 1024);
  for (let offset = 0; offset < data.length; offset += 64) {
    createHash('sha512').update(String(offset)).digest().copy(data, offset);
  }
  return data;
}

function greeter(version: string) {
  return {
    name: 'greeter',
    version,
    depends: ['greeter-data'],
    program: { prints: `Hello from greeter ${version}` },
  };
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-layers-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  registry = await startRegistry();
  first = await buildFixtureRepo({
    dir: path.join(work, 'first'),
    arch: 'x86_64',
    repoName: 'fixtures',
    packages: [
      greeter('2.1'),
      {
        name: 'greeter-data',
        version: '0.3',
        arch: 'any',
        files: { 'usr/share/greeter/data': bulkyData(), 'usr/share/greeter/words': 'hi\n' },
      },
    ],
  });
  update = await buildFixtureRepo({
    dir: path.join(work, 'update'),
    arch: 'x86_64',
    repoName: 'update',
    packages: [greeter('2.2')],
  });
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** A root as make-chroot makes it; `repos` in pacman's order. */
async function makeRoot(name: string, repos: string): Promise<string> {
  const root = path.join(work, name);
  const made = await runBundle(
    'make-chroot',
    { packages: 'greeter', repos, mirror: 'none', arch: 'x86_64', app: 'greeter', root },
    { RUNNER_TEMP: runnerTemp },
  );
  if (made.code !== 0) throw new Error(`make-chroot failed:\n${made.log}`);
  return root;
}

function pushApp(root: string, extra: Record<string, string> = {}) {
  return runBundle(
    'import-image',
    {
      root,
      image: `${registry.address}/layers/greeter`,
      insecure: 'true',
      cmd: '/usr/bin/greeter',
      layers: 'app',
      ...extra,
    },
    { RUNNER_TEMP: runnerTemp },
  );
}

function skopeo(args: string[]): string {
  return execFileSync('skopeo', [...args], { encoding: 'utf8' });
}

function layersOf(reference: string): Array<{ digest: string; size: number }> {
  const raw = JSON.parse(
    skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reference}`]),
  );
  return (raw as { layers: Array<{ digest: string; size: number }> }).layers;
}

/** The digests of the blobs the registry's access log shows uploaded (the final PUT of each). */
function uploadedDigests(log: string): string[] {
  const found = [
    ...log.matchAll(
      /"PUT \/v2\/layers\/greeter\/blobs\/uploads\/[^" ]*digest=sha256%3A([a-f0-9]{64})/g,
    ),
  ];
  return found.map((match) => `sha256:${match[1]}`);
}

/**
 * The registry's log once no more lines come in: a synchronous podman run blocks this process,
 * so the registry's output is read only afterwards.
 */
async function settledLog(): Promise<string> {
  for (;;) {
    const length = registry.log().length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (registry.log().length === length) return registry.log();
  }
}

/** The digests of the blobs the registry's access log shows fetched (GET). */
function fetchedBlobs(log: string): string[] {
  const found = [...log.matchAll(/"GET \/v2\/layers\/greeter\/blobs\/(sha256:[a-f0-9]{64})/g)];
  return [...new Set(found.map((match) => match[1] as string))];
}

function podman(args: string[]): string {
  return execFileSync('podman', [...podmanGlobalArgs(path.join(work, 'podman')), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('layers: app', () => {
  let rootA: string;
  let before: Awaited<ReturnType<typeof pushApp>>;

  test('the app, its database and the manifest sit in a small last layer; podman runs it', async () => {
    rootA = await makeRoot('root-a', `fixtures=${first.repoDir}`);
    before = await pushApp(rootA, { tags: 'v1' });
    expect(errorLines(before.log)).toEqual([]);
    expect(before.code).toBe(0);
    const reference = `${registry.address}/layers/greeter:v1`;
    const layers = layersOf(reference);
    expect(layers).toHaveLength(2);
    const [below, app] = layers as [
      { digest: string; size: number },
      { digest: string; size: number },
    ];
    expect(before.outputs['layer-digest']).toBe(app.digest);
    expect(Number(before.outputs['size-bytes'])).toBe(below.size + app.size);
    expect(app.size).toBeLessThan(below.size / 4);

    // What each layer holds, read by skopeo's copy and GNU tar.
    const layout = path.join(work, 'copy-a');
    skopeo(['copy', '--src-tls-verify=false', `docker://${reference}`, `oci:${layout}`]);
    const list = (digest: string): string[] =>
      execFileSync('tar', ['-tzf', path.join(layout, 'blobs/sha256', digest.slice(7))], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n');
    const lower = list(below.digest);
    const upper = list(app.digest);
    expect(lower).toContain('usr/share/greeter/data');
    expect(lower).not.toContain('usr/bin/greeter');
    expect(lower.some((entry) => entry.startsWith('var/lib/pacman/local/'))).toBe(false);
    expect(upper).toEqual(
      expect.arrayContaining([
        'usr/bin/greeter',
        'usr/share/arch-core/manifest.json',
        'var/lib/pacman/local/greeter-2.1-1/files',
        'var/lib/pacman/local/greeter-data-0.3-1/desc',
      ]),
    );
    expect(upper).not.toContain('usr/share/greeter/data');
    // A directory in both is written with the same header (mode, owner, mtime).
    const verbose = (digest: string, entry: string): string =>
      execFileSync(
        'tar',
        ['-tvzf', path.join(layout, 'blobs/sha256', digest.slice(7)), '--no-recursion', entry],
        {
          encoding: 'utf8',
        },
      );
    expect(verbose(app.digest, 'usr/')).toBe(verbose(below.digest, 'usr/'));

    // Labels are those of the single-layer image of the same root.
    const single = await runBundle('import-image', {
      root: rootA,
      image: `${registry.address}/layers/single`,
      push: 'false',
      output: path.join(work, 'single-a'),
    });
    const labels = (outputs: Record<string, string>): unknown =>
      (JSON.parse(outputs.metadata ?? '{}') as { labels: unknown }).labels;
    expect(labels(before.outputs)).toEqual(labels(single.outputs));

    // The first pull fetches both layers (the log check below sees what a pull fetches).
    const pinned = `${registry.address}/layers/greeter@${before.outputs.digest}`;
    const logBeforePull = registry.log().length;
    podman(['pull', '--tls-verify=false', pinned]);
    const configA = (
      JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${pinned}`])) as {
        config: { digest: string };
      }
    ).config.digest;
    expect(fetchedBlobs((await settledLog()).slice(logBeforePull)).sort()).toEqual(
      [below.digest, app.digest, configA].sort(),
    );
    expect(podman(['run', ...PODMAN_RUN_ARGS, pinned]).trim()).toBe('Hello from greeter 2.1');
  });

  test('after an app-only rebuild only the app layer and the config are uploaded and pulled', async () => {
    const rootB = await makeRoot('root-b', `update=${update.repoDir}\nfixtures=${first.repoDir}`);
    const logBefore = registry.log().length;
    const after = await pushApp(rootB, { tags: 'v2' });
    expect(errorLines(after.log)).toEqual([]);
    expect(after.code).toBe(0);
    const [belowA, appA] = layersOf(`${registry.address}/layers/greeter:v1`) as Array<{
      digest: string;
    }>;
    const [belowB, appB] = layersOf(`${registry.address}/layers/greeter:v2`) as Array<{
      digest: string;
    }>;
    expect(belowB?.digest).toBe(belowA?.digest);
    expect(appB?.digest).not.toBe(appA?.digest);
    const configB = (
      JSON.parse(
        skopeo([
          'inspect',
          '--raw',
          '--tls-verify=false',
          `docker://${registry.address}/layers/greeter:v2`,
        ]),
      ) as { config: { digest: string } }
    ).config.digest;
    // The registry's own access log: of the image, the app layer and the config, nothing else;
    // besides, the new root's two SBOM documents and the run's provenance, attached as artifacts
    // referring to it.
    const provenance = (
      JSON.parse(
        skopeo([
          'inspect',
          '--raw',
          '--tls-verify=false',
          `docker://${registry.address}/layers/greeter@${after.outputs['provenance-digest']}`,
        ]),
      ) as { layers: Array<{ digest: string }> }
    ).layers[0]?.digest;
    const sboms = await Promise.all(
      ['usr/share/arch-core/sbom.spdx.json', 'usr/share/arch-core/sbom.cdx.json'].map(
        async (file) =>
          `sha256:${createHash('sha256')
            .update(await fs.readFile(path.join(rootB, file)))
            .digest('hex')}`,
      ),
    );
    expect(uploadedDigests(registry.log().slice(logBefore)).sort()).toEqual(
      [appB?.digest, configB, ...sboms, provenance].sort(),
    );
    expect(after.log).toMatch(
      new RegExp(`blob ${(belowB?.digest ?? '').slice(0, 19)} \\(\\d+ bytes\\) is already there`),
    );

    // podman, which holds v1, fetches only the new blobs: the registry's log of the pull.
    const reference = `${registry.address}/layers/greeter@${after.outputs.digest}`;
    const logBeforePull = registry.log().length;
    podman(['pull', '--tls-verify=false', reference]);
    expect(fetchedBlobs((await settledLog()).slice(logBeforePull)).sort()).toEqual(
      [appB?.digest, configB].sort(),
    );
    expect(podman(['run', ...PODMAN_RUN_ARGS, reference]).trim()).toBe('Hello from greeter 2.2');
  });

  test('layers: app from a tarball is refused naming the input', async () => {
    const tarball = path.join(work, 'some.tar');
    await fs.writeFile(tarball, Buffer.alloc(1024));
    const result = await runBundle('import-image', {
      tarball,
      image: `${registry.address}/layers/refused`,
      insecure: 'true',
      layers: 'app',
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "layers": app needs root (pacman's database tells the files apart), not tarball.`,
    ]);
  });
});
