import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { cyclonedxSchemaErrors, spdxSchemaErrors } from '../helpers/sbom-schemas.js';

// make-chroot's SBOMs, checked by readers that did not write them (the published schemas, real
// pacman's own list of the root), then attached by import-image to the pushed image and found
// again on Debian's docker-registry from the image digest alone, with skopeo as a second reader.
jest.setTimeout(300_000);

const EPOCH = '1767225600'; // 2026-01-01T00:00:00Z
let work: string;
let runnerTemp: string;
let repo: FixtureRepo;
let registry: TestRegistry;
let chroot: Record<string, string>;

async function makeChroot(name: string): Promise<Record<string, string>> {
  const made = await runBundle(
    'make-chroot',
    {
      packages: 'greeter',
      repos: `fixtures=${repo.repoDir}`,
      mirror: 'none',
      arch: 'x86_64',
      app: 'greeter',
      root: path.join(work, name),
      'keep-package-db': 'true',
    },
    { RUNNER_TEMP: runnerTemp, SOURCE_DATE_EPOCH: EPOCH },
  );
  if (made.code !== 0) throw new Error(`make-chroot failed:\n${made.log}`);
  return made.outputs;
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'sbom-'));
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
        depends: ['greeter-data', 'libfoo++'],
        program: { prints: 'Hello with an SBOM' },
      },
      {
        name: 'greeter-data',
        version: '0.3',
        arch: 'any',
        licenses: ['GPL-2.0-or-later OR MIT', 'custom:greeter data'],
        files: { 'usr/share/greeter/data': 'data\n' },
      },
      { name: 'libfoo++', version: '1.2', release: '3', licenses: ['LGPL2.1'] },
    ],
  });
  chroot = await makeChroot('root');
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
}

/** The root's packages as pacman itself lists them: `name version` lines. */
function pacmanQuery(root: string): string[] {
  return execFileSync('pacman', ['--root', root, '--dbpath', `${root}/var/lib/pacman`, '-Q'], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n');
}

describe("make-chroot's SBOMs", () => {
  test('both are outputs inside the root, valid under the published schemas', async () => {
    expect(chroot['sbom-spdx']).toBe(path.join(work, 'root/usr/share/arch-core/sbom.spdx.json'));
    expect(chroot['sbom-cyclonedx']).toBe(
      path.join(work, 'root/usr/share/arch-core/sbom.cdx.json'),
    );
    expect(spdxSchemaErrors(await readJson(chroot['sbom-spdx']!))).toEqual([]);
    expect(cyclonedxSchemaErrors(await readJson(chroot['sbom-cyclonedx']!))).toEqual([]);
  });

  test("every package of the root's pacman database once, with its version, and nothing else", async () => {
    const installed = pacmanQuery(chroot.root!);
    expect(installed).toEqual(['greeter 2.1-1', 'greeter-data 0.3-1', 'libfoo++ 1.2-3']);
    const spdx = await readJson(chroot['sbom-spdx']!);
    const packages = spdx.packages as Array<{ SPDXID: string; name: string; versionInfo: string }>;
    expect(packages.filter((p) => p.SPDXID === 'SPDXRef-Root')).toHaveLength(1);
    expect(
      packages.filter((p) => p.SPDXID !== 'SPDXRef-Root').map((p) => `${p.name} ${p.versionInfo}`),
    ).toEqual(installed);
    const cyclonedx = await readJson(chroot['sbom-cyclonedx']!);
    const components = cyclonedx.components as Array<{ name: string; version: string }>;
    expect(components.map((c) => `${c.name} ${c.version}`)).toEqual(installed);
  });

  test('licenses from the package metadata, purls of the alpm type, the app with its record', async () => {
    const spdx = await readJson(chroot['sbom-spdx']!);
    const byName = new Map(
      (spdx.packages as Array<Record<string, unknown>>).map((p) => [p.name as string, p]),
    );
    const data = byName.get('greeter-data')!;
    expect(data.licenseDeclared).toMatch(
      /^\(GPL-2\.0-or-later OR MIT\) AND LicenseRef-custom-greeter-data-[0-9a-f]{8}$/,
    );
    expect(byName.get('libfoo++')!.licenseDeclared).toBe('LicenseRef-LGPL2.1');
    expect(byName.get('libfoo++')!.externalRefs).toEqual([
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: 'pkg:alpm/arch/libfoo%2B%2B@1.2-3?arch=x86_64',
      },
    ]);
    expect(byName.get('greeter')!.primaryPackagePurpose).toBe('APPLICATION');
    expect((spdx.creationInfo as { created: string }).created).toBe('2026-01-01T00:00:00Z');
  });

  test('the same root gives the same bytes', async () => {
    const again = await makeChroot('root-again');
    for (const output of ['sbom-spdx', 'sbom-cyclonedx']) {
      const first = await fs.readFile(chroot[output]!);
      expect(await fs.readFile(again[output]!)).toEqual(first);
    }
  });
});

interface Index {
  mediaType: string;
  manifests: Array<{ digest: string; artifactType?: string; annotations?: Record<string, string> }>;
}

async function registryGet(url: string, accept: string): Promise<Buffer> {
  const response = await fetch(`http://${registry.address}${url}`, { headers: { accept } });
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

describe('import-image attaches them as referrers of the pushed image', () => {
  const repository = 'sbom/greeter';
  let pushed: Record<string, string>;

  beforeAll(async () => {
    const result = await runBundle(
      'import-image',
      { root: chroot.root!, image: `${registry.address}/${repository}`, insecure: 'true' },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    pushed = result.outputs;
  });

  test('found again from the image digest alone: tag index, artifact manifest, blob', async () => {
    const digest = pushed.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const tag = digest.replace(':', '-');
    const index = JSON.parse(
      (
        await registryGet(
          `/v2/${repository}/manifests/${tag}`,
          'application/vnd.oci.image.index.v1+json',
        )
      ).toString(),
    ) as Index;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const expected: Array<[string, string, string]> = [
      ['application/spdx+json', pushed['sbom-spdx-digest']!, chroot['sbom-spdx']!],
      [
        'application/vnd.cyclonedx+json',
        pushed['sbom-cyclonedx-digest']!,
        chroot['sbom-cyclonedx']!,
      ],
    ];
    // The provenance (import-image-provenance.test.ts) comes after the SBOMs.
    expect(index.manifests.map((m) => [m.artifactType, m.digest])).toEqual([
      ...expected.map(([type, referrer]) => [type, referrer]),
      ['application/vnd.in-toto+json', pushed['provenance-digest']],
    ]);
    for (const [artifactType, referrer, file] of expected) {
      const manifest = JSON.parse(
        (
          await registryGet(
            `/v2/${repository}/manifests/${referrer}`,
            'application/vnd.oci.image.manifest.v1+json',
          )
        ).toString(),
      ) as {
        artifactType: string;
        config: { mediaType: string; size: number; digest: string };
        layers: Array<{ mediaType: string; digest: string }>;
        subject: { digest: string };
      };
      expect(manifest.artifactType).toBe(artifactType);
      expect(manifest.subject.digest).toBe(digest);
      expect(manifest.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
      const config = await registryGet(`/v2/${repository}/blobs/${manifest.config.digest}`, '*/*');
      expect(config.toString()).toBe('{}');
      expect(manifest.layers).toHaveLength(1);
      const blob = await registryGet(
        `/v2/${repository}/blobs/${manifest.layers[0]!.digest}`,
        '*/*',
      );
      expect(blob).toEqual(await fs.readFile(file));
    }
  });

  test('skopeo reads the same referrers index and artifact manifests', async () => {
    const tag = pushed.digest!.replace(':', '-');
    const raw = (reference: string): Buffer =>
      execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reference}`]);
    const viaSkopeo = raw(`${registry.address}/${repository}:${tag}`);
    const viaHttp = await registryGet(
      `/v2/${repository}/manifests/${tag}`,
      'application/vnd.oci.image.index.v1+json',
    );
    expect(viaSkopeo).toEqual(viaHttp);
    const artifact = JSON.parse(
      raw(`${registry.address}/${repository}@${pushed['sbom-spdx-digest']}`).toString(),
    ) as { subject: { digest: string } };
    expect(artifact.subject.digest).toBe(pushed.digest);
  });

  test('pushing the same image again leaves one entry per SBOM, one provenance per run', async () => {
    const again = await runBundle(
      'import-image',
      { root: chroot.root!, image: `${registry.address}/${repository}`, insecure: 'true' },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(again.code).toBe(0);
    expect(again.outputs.digest).toBe(pushed.digest);
    expect(again.outputs['sbom-spdx-digest']).toBe(pushed['sbom-spdx-digest']);
    const index = JSON.parse(
      (
        await registryGet(
          `/v2/${repository}/manifests/${pushed.digest!.replace(':', '-')}`,
          'application/vnd.oci.image.index.v1+json',
        )
      ).toString(),
    ) as Index;
    // Two runs within the same second make the same statement (its times are in seconds).
    const provenances = [
      ...new Set([pushed['provenance-digest'], again.outputs['provenance-digest']]),
    ];
    expect(index.manifests.map((m) => [m.artifactType, m.digest])).toEqual([
      ['application/spdx+json', pushed['sbom-spdx-digest']],
      ['application/vnd.cyclonedx+json', pushed['sbom-cyclonedx-digest']],
      ...provenances.map((digest) => ['application/vnd.in-toto+json', digest]),
    ]);
  });

  test('an sbom-spdx input that is no SPDX document: one line naming it, nothing pushed', async () => {
    const notSpdx = path.join(work, 'not-spdx.json');
    await fs.writeFile(notSpdx, '{"bomFormat":"CycloneDX"}\n');
    const result = await runBundle(
      'import-image',
      {
        root: chroot.root!,
        image: `${registry.address}/sbom/refused`,
        insecure: 'true',
        'sbom-spdx': notSpdx,
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('sbom-spdx');
    expect(errors[0]).toContain('is not an SPDX JSON document');
    const tags = await fetch(`http://${registry.address}/v2/sbom/refused/tags/list`);
    expect(tags.status).toBe(404);
  });
});
