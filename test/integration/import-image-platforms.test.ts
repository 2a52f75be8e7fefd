import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { podmanGlobalArgs, PODMAN_RUN_ARGS } from '../helpers/import-image-podman.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// platforms: an i686 root and an x86_64 root (each with a static binary of its arch) become one
// OCI image index under the tags, pushed to a real registry on loopback; skopeo reads the index
// and podman pulls and runs each architecture's image.

jest.setTimeout(300_000);

let work: string;
let registry: TestRegistry;
let root386: string;
let rootAmd64: string;
let tarballAmd64: string;

const TEXT_386 = 'Hello from the i686 child';
const TEXT_AMD64 = 'Hello from the x86_64 child';

interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  platform: { os: string; architecture: string };
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-platforms-'));
  registry = await startRegistry();
  root386 = path.join(work, 'root-i686');
  rootAmd64 = path.join(work, 'root-x86_64');
  await makeAppRoot(root386, { arch: 'i686', text: TEXT_386 });
  await makeAppRoot(rootAmd64, { arch: 'x86_64', text: TEXT_AMD64 });
  tarballAmd64 = path.join(work, 'root-x86_64.tar');
  execFileSync('tar', ['-C', rootAmd64, '-cf', tarballAmd64, '.']);
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** podman with its own storage under work/`storage` (short: podman caps the runroot's length). */
function podman(storage: string, args: string[]): string {
  return execFileSync('podman', [...podmanGlobalArgs(path.join(work, storage)), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function rawManifest(reference: string): Record<string, unknown> {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', reference], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as Record<string, unknown>;
}

function platformsInput(lines: Array<[string, string]>): string {
  return lines.map(([platform, where]) => `${platform}=${where}`).join('\n');
}

describe('import-image platforms: one index for both architectures', () => {
  test('the index lists both images; podman pulls and runs each arch its own', async () => {
    expect(
      execFileSync('file', [path.join(root386, 'usr/bin/hello')], { encoding: 'utf8' }),
    ).toMatch(/ELF 32-bit .*Intel (80386|i386)/);
    expect(
      execFileSync('file', [path.join(rootAmd64, 'usr/bin/hello')], { encoding: 'utf8' }),
    ).toMatch(/ELF 64-bit .*x86-64/);
    const image = `${registry.address}/multi/hello`;
    const result = await runBundle('import-image', {
      platforms: platformsInput([
        ['linux/386', root386],
        ['linux/amd64', rootAmd64],
      ]),
      image,
      insecure: 'true',
      tags: 'v1 latest',
      cmd: '/usr/bin/hello',
      annotations: [
        'index:org.opencontainers.image.vendor=arch-core tests',
        'manifest:org.opencontainers.image.description=hello',
        'manifest[linux/amd64]:org.example.amd64-only=yes',
      ].join('\n'),
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toContain('linux/386: ' + root386 + ' is i686 (its manifest)');
    const digest = result.outputs.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.outputs['image-ref']).toBe(`${image}@${digest}`);
    const perPlatform = JSON.parse(result.outputs['platform-digests']!) as Record<string, string>;
    expect(Object.keys(perPlatform).sort()).toEqual(['linux/386', 'linux/amd64']);

    // skopeo reads an OCI image index under each tag, its entries the two images.
    for (const tag of ['v1', 'latest']) {
      const index = rawManifest(`docker://${image}:${tag}`);
      expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      const entries = index.manifests as IndexEntry[];
      expect(
        entries.map((entry) => [
          `${entry.platform.os}/${entry.platform.architecture}`,
          entry.digest,
        ]),
      ).toEqual([
        ['linux/386', perPlatform['linux/386']],
        ['linux/amd64', perPlatform['linux/amd64']],
      ]);
      for (const entry of entries) {
        expect(entry.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      }
      expect(index.annotations).toEqual({ 'org.opencontainers.image.vendor': 'arch-core tests' });
    }
    // Each child is an image as a single root makes it: its own config, arch and labels.
    for (const [platform, arch] of [
      ['linux/386', 'i686'],
      ['linux/amd64', 'x86_64'],
    ] as const) {
      const manifest = rawManifest(`docker://${image}@${perPlatform[platform]}`);
      expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(manifest.annotations).toEqual({
        'org.opencontainers.image.description': 'hello',
        ...(platform === 'linux/amd64' ? { 'org.example.amd64-only': 'yes' } : {}),
      });
      const inspected = JSON.parse(
        execFileSync(
          'skopeo',
          ['inspect', '--tls-verify=false', `docker://${image}@${perPlatform[platform]}`],
          { encoding: 'utf8' },
        ),
      ) as { Architecture: string; Labels: Record<string, string> };
      expect(inspected.Architecture).toBe(platform.split('/')[1]);
      expect(inspected.Labels['org.archlinux.arch']).toBe(arch);
    }

    // podman, asked for each arch, pulls that image from the index and runs its binary.
    for (const [arch, text, storage, elf] of [
      ['386', TEXT_386, 'p386', /ELF 32-bit .*Intel (80386|i386)/],
      ['amd64', TEXT_AMD64, 'p64', /ELF 64-bit .*x86-64/],
    ] as const) {
      podman(storage, ['pull', '--tls-verify=false', '--arch', arch, `${image}:v1`]);
      const inspected = JSON.parse(podman(storage, ['image', 'inspect', `${image}:v1`])) as Array<{
        Architecture: string;
        Digest: string;
      }>;
      expect(inspected[0]?.Architecture).toBe(arch);
      const output = podman(storage, ['run', ...PODMAN_RUN_ARGS, '--arch', arch, `${image}:v1`]);
      expect(output.trim()).toBe(text);
      // The binary podman ran, copied out of the pulled image: of that arch.
      const container = podman(storage, ['create', '--arch', arch, `${image}:v1`]).trim();
      const copied = path.join(work, `ran-${arch}`);
      podman(storage, ['cp', `${container}:/usr/bin/hello`, copied]);
      podman(storage, ['rm', container]);
      expect(execFileSync('file', ['-L', copied], { encoding: 'utf8' })).toMatch(elf);
    }
  });

  test('the same roots give the same index digest twice, whatever the order of the lines; output writes it', async () => {
    const image = `${registry.address}/multi/again`;
    const runs = [];
    for (const [i, lines] of [
      [
        ['linux/386', root386],
        ['linux/amd64', tarballAmd64],
      ],
      [
        ['linux/amd64', tarballAmd64],
        ['linux/386', root386],
      ],
    ].entries() as IterableIterator<[number, Array<[string, string]>]>) {
      const output = path.join(work, `layout-${i}.tar`);
      const result = await runBundle('import-image', {
        platforms: platformsInput(lines),
        image,
        insecure: 'true',
        tags: `run${i}`,
        output,
      });
      expect(errorLines(result.log)).toEqual([]);
      expect(result.code).toBe(0);
      expect(result.outputs.layout).toBe(output);
      runs.push({ result, output });
    }
    const [first, second] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(second.result.outputs.digest).toBe(first.result.outputs.digest);
    expect(second.result.outputs['platform-digests']).toBe(
      first.result.outputs['platform-digests'],
    );
    // The OCI archive holds the same index as the registry: skopeo reads it there too.
    const fromLayout = rawManifest(`oci-archive:${first.output}:run0`);
    const fromRegistry = rawManifest(`docker://${image}:run0`);
    expect(fromLayout).toEqual(fromRegistry);
    const copied = path.join(work, 'copied-386');
    execFileSync('skopeo', [
      'copy',
      '--override-arch',
      '386',
      `oci-archive:${first.output}:run0`,
      `dir:${copied}`,
    ]);
    const copiedManifest = JSON.parse(
      await fs.readFile(path.join(copied, 'manifest.json'), 'utf8'),
    ) as { config: { digest: string } };
    const expected = JSON.parse(first.result.outputs['platform-digests']!) as Record<
      string,
      string
    >;
    const child = rawManifest(`docker://${image}@${expected['linux/386']}`) as {
      config: { digest: string };
    };
    expect(copiedManifest.config.digest).toBe(child.config.digest);
  });
});

describe('import-image platforms: cache-dir and push false', () => {
  test('one cache serves both images: the second run compresses nothing and writes the same layout', async () => {
    const cacheDir = path.join(work, 'cache');
    const layouts: string[] = [];
    const logs: string[] = [];
    for (const run of [1, 2]) {
      const output = path.join(work, `cached-layout-${run}`);
      const result = await runBundle('import-image', {
        platforms: platformsInput([
          ['linux/386', root386],
          ['linux/amd64', rootAmd64],
        ]),
        image: `${registry.address}/multi/cached`,
        push: 'false',
        tags: 'v1',
        output,
        'cache-dir': cacheDir,
      });
      expect(errorLines(result.log)).toEqual([]);
      expect(result.code).toBe(0);
      layouts.push(output);
      logs.push(result.log);
    }
    expect(logs[0]).not.toContain('compressed nothing');
    expect(logs[1]).toContain('compressed nothing: every layer came from the cache');
    const [first, second] = layouts.map((layout) => rawManifest(`oci:${layout}:v1`));
    expect(first?.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(second).toEqual(first);
    // Nothing was pushed.
    const tags = await fetch(`http://${registry.address}/v2/multi/cached/tags/list`);
    expect(tags.status).toBe(404);
  });
});

/** openssl's verdict on `signature` (base64 DER) over `payload` by the public key file `pub`. */
async function opensslVerifies(payload: Buffer, signature: string, pub: string): Promise<boolean> {
  const payloadFile = path.join(work, 'payload');
  const signatureFile = path.join(work, 'signature.der');
  await fs.writeFile(payloadFile, payload);
  await fs.writeFile(signatureFile, Buffer.from(signature, 'base64'));
  try {
    execFileSync(
      'openssl',
      ['dgst', '-sha256', '-verify', pub, '-signature', signatureFile, payloadFile],
      {
        stdio: 'pipe',
      },
    );
    return true;
  } catch {
    return false;
  }
}

async function blob(repository: string, digest: string): Promise<Buffer> {
  const response = await fetch(`http://${registry.address}/v2/${repository}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** The digests the signatures under `digest`'s .sig tag name, of those that verify with `pub`. */
async function verifiedSignatureDigests(repository: string, digest: string, pub: string) {
  const manifest = rawManifest(
    `docker://${registry.address}/${repository}:${digest.replace(':', '-')}.sig`,
  ) as { layers: Array<{ digest: string; annotations: Record<string, string> }> };
  const named: string[] = [];
  for (const layer of manifest.layers) {
    const payload = await blob(repository, layer.digest);
    const signature = layer.annotations['dev.cosignproject.cosign/signature'] ?? '';
    if (!(await opensslVerifies(payload, signature, pub))) continue;
    const critical = (
      JSON.parse(payload.toString()) as { critical: { image: Record<string, string> } }
    ).critical;
    named.push(critical.image['docker-manifest-digest'] ?? '');
  }
  return named;
}

describe('import-image platforms: signatures and SBOMs', () => {
  test("sign-key signs the index and each image; each image gets its own root's SBOM", async () => {
    const key = path.join(work, 'signer.pem');
    const pub = path.join(work, 'signer.pub');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', pub], { stdio: 'pipe' });
    // A minimal SPDX document per root, where make-chroot puts its own; each names its arch.
    const roots: Array<[string, string, string]> = [];
    for (const [platform, arch] of [
      ['linux/386', 'i686'],
      ['linux/amd64', 'x86_64'],
    ] as const) {
      const root = path.join(work, `sbom-root-${arch}`);
      await makeAppRoot(root, { arch, text: `signed ${arch}` });
      const spdx = JSON.stringify({ spdxVersion: 'SPDX-2.3', name: `root of ${arch}` });
      await fs.writeFile(path.join(root, 'usr/share/arch-core/sbom.spdx.json'), spdx);
      roots.push([platform, root, spdx]);
    }
    const repository = 'multi/signed';
    const result = await runBundle('import-image', {
      platforms: platformsInput(roots.map(([platform, root]) => [platform, root])),
      image: `${registry.address}/${repository}`,
      insecure: 'true',
      tags: 'v1',
      'sign-key': await fs.readFile(key, 'utf8'),
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    const index = result.outputs.digest!;
    const children = JSON.parse(result.outputs['platform-digests']!) as Record<string, string>;
    expect(result.outputs['signature-ref']).toBe(
      `${registry.address}/${repository}:${index.replace(':', '-')}.sig`,
    );
    for (const digest of [index, ...Object.values(children)]) {
      expect(await verifiedSignatureDigests(repository, digest, pub)).toEqual([digest]);
    }
    const metadata = JSON.parse(result.outputs.metadata!) as {
      platforms: Array<{
        platform: string;
        digest: string;
        'sbom-spdx-digest': string;
        'provenance-digest': string;
      }>;
    };
    for (const [platform, , spdx] of roots) {
      const child = children[platform]!;
      const entry = metadata.platforms.find((each) => each.platform === platform);
      expect(entry?.digest).toBe(child);
      // The registry (docker-registry 2.8) has no referrers API: the index under sha256-HEX.
      const referrers = rawManifest(
        `docker://${registry.address}/${repository}:${child.replace(':', '-')}`,
      ) as { manifests: Array<{ digest: string; artifactType: string }> };
      // Each image's own SBOM, then its own provenance (on by default).
      expect(referrers.manifests.map((m) => [m.artifactType, m.digest])).toEqual([
        ['application/spdx+json', entry?.['sbom-spdx-digest']],
        ['application/vnd.in-toto+json', entry?.['provenance-digest']],
      ]);
      const provenance = rawManifest(
        `docker://${registry.address}/${repository}@${entry?.['provenance-digest']}`,
      ) as { subject: { digest: string } };
      expect(provenance.subject.digest).toBe(child);
      const artifact = rawManifest(
        `docker://${registry.address}/${repository}@${entry?.['sbom-spdx-digest']}`,
      ) as { subject: { digest: string }; layers: Array<{ digest: string }> };
      expect(artifact.subject.digest).toBe(child);
      expect((await blob(repository, artifact.layers[0]!.digest)).toString()).toBe(spdx);
    }
    expect(result.outputs['provenance-digest']).toBe('');
    // The index itself has no SBOM or provenance: each root has its own.
    const none = await fetch(
      `http://${registry.address}/v2/${repository}/manifests/${index.replace(':', '-')}`,
      { headers: { accept: 'application/vnd.oci.image.index.v1+json' } },
    );
    expect(none.status).toBe(404);
  });
});

describe('import-image platforms refuses bad lines with one clear error', () => {
  test.each([
    [
      'an i686 root given as linux/amd64',
      'linux/386=I686\nlinux/amd64=I686',
      {},
      /^Input "platforms": .*root-i686 is i686 \(linux\/386\), not linux\/amd64; give it as linux\/386=\.$/,
    ],
    [
      'a platform given twice',
      'linux/386=I686\nlinux/386=AMD64',
      {},
      /^Input "platforms": linux\/386 is given twice; give it once\.$/,
    ],
    [
      'an unknown platform',
      'linux/386=I686\nlinux/s390x=AMD64',
      {},
      /^Input "platforms": "linux\/s390x" is not a known platform \(linux\/386, linux\/amd64, /,
    ],
    [
      'a line without a path',
      'linux/386=I686\nlinux/amd64',
      {},
      /^Input "platforms": "linux\/amd64" is not PLATFORM=PATH/,
    ],
    [
      'a path that does not exist',
      'linux/386=I686\nlinux/amd64=AMD64/missing',
      {},
      /^Input "platforms": linux\/amd64: .*missing is not an existing root directory or tarball\.$/,
    ],
    [
      'platforms with root',
      'linux/386=I686\nlinux/amd64=AMD64',
      { root: 'AMD64' },
      /^Input "platforms": is given with "root"; give one or the other/,
    ],
    [
      'platforms with platform',
      'linux/386=I686\nlinux/amd64=AMD64',
      { platform: 'linux/amd64' },
      /^Input "platforms": is given with "platform"/,
    ],
    [
      'platforms in mode docker',
      'linux/386=I686\nlinux/amd64=AMD64',
      { mode: 'docker' },
      /^Input "platforms": is for mode oci/,
    ],
    [
      'a single line',
      'linux/386=I686',
      {},
      /^Input "platforms": names one platform; give two or more lines/,
    ],
  ])('%s', async (what, lines, extra: Record<string, string>, message) => {
    const fill = (text: string): string =>
      text.replaceAll('I686', root386).replaceAll('AMD64', rootAmd64);
    const out = path.join(work, what.replace(/\W+/g, '-'));
    const inputs: Record<string, string> = {
      platforms: fill(lines),
      image: `${registry.address}/multi/refused`,
      insecure: 'true',
      output: path.join(out, 'layout'),
    };
    for (const [key, value] of Object.entries(extra)) inputs[key] = fill(value);
    const result = await runBundle('import-image', inputs);
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(result.log).not.toMatch(/\n\s+at /);
    await expect(fs.readdir(out).catch(() => [])).resolves.toEqual([]);
    // Nothing was pushed: the repository has no tags.
    const tags = await fetch(`http://${registry.address}/v2/multi/refused/tags/list`);
    expect(tags.status).toBe(404);
  });
});
