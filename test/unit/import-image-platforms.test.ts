import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Manifest } from '../../actions/core/src/manifest.js';
import { manifestAnnotations, parseAnnotation } from '../../actions/import-image/src/config.js';
import type { BuiltImage, Platform } from '../../actions/import-image/src/oci.js';
import {
  agreedTags,
  checkSourceArch,
  imageIndex,
  indexAnnotations,
  knownPlatforms,
  parsePlatformLines,
} from '../../actions/import-image/src/platforms.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'platforms-unit-'));
  await fs.mkdir(path.join(work, 'root'));
  await fs.writeFile(path.join(work, 'root.tar'), '');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** An image as buildImage makes it, with only what the index reads. */
function image(platform: Platform, manifestBytes: string): BuiltImage {
  const bytes = Buffer.from(manifestBytes);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const blob = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 3, bytes };
  return { layers: [], config: blob, manifest: { ...blob, size: bytes.length }, platform };
}

describe('the image index', () => {
  const i386 = image({ os: 'linux', architecture: '386' }, 'i386');
  const amd64 = image({ os: 'linux', architecture: 'amd64' }, 'amd64');
  const arm64 = image({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'arm64');

  test('lists each image with its platform, sorted by platform, whatever the order given', () => {
    const index = imageIndex([arm64, amd64, i386]);
    expect(imageIndex([i386, arm64, amd64]).bytes.equals(index.bytes)).toBe(true);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.digest).toBe(`sha256:${createHash('sha256').update(index.bytes).digest('hex')}`);
    expect(JSON.parse(index.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [i386, amd64, arm64].map(({ manifest, platform }) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest.digest,
        size: manifest.size,
        platform,
      })),
    });
  });
});

describe('the platforms lines', () => {
  test('a directory is a root, a file a tarball; sorted by platform', async () => {
    const sources = await parsePlatformLines([
      `linux/amd64 = ${work}/root.tar`,
      `linux/386=${work}/root`,
    ]);
    expect(sources).toEqual([
      { platform: { os: 'linux', architecture: '386' }, root: `${work}/root` },
      { platform: { os: 'linux', architecture: 'amd64' }, tarball: `${work}/root.tar` },
    ]);
  });

  test('knows at least linux/386 and linux/amd64', () => {
    expect(knownPlatforms()).toEqual(expect.arrayContaining(['linux/386', 'linux/amd64']));
  });

  test.each([
    [['linux/386'], /"linux\/386" is not PLATFORM=PATH/],
    [['=/x', 'linux/386=/y'], /"=\/x" is not PLATFORM=PATH/],
    [['linux/386=ROOT', 'windows/amd64=ROOT'], /"windows\/amd64" is not a known platform/],
    [['linux/386=ROOT', 'linux/386=ROOT'], /linux\/386 is given twice/],
    [['linux/386=ROOT'], /names one platform/],
  ])('%p is refused', async (lines, message) => {
    const given = lines.map((line) => line.replace('ROOT', path.join(work, 'root')));
    await expect(parsePlatformLines(given)).rejects.toThrow(message);
  });
});

describe("a root's arch against its line", () => {
  const manifest = (arch: string) => ({ arch }) as Manifest;
  const root = '/srv/root';

  test('an i686 root given as linux/amd64 is refused, naming its platform', async () => {
    await expect(
      checkSourceArch({ platform: { os: 'linux', architecture: 'amd64' }, root }, manifest('i686')),
    ).rejects.toThrow(
      'Input "platforms": /srv/root is i686 (linux/386), not linux/amd64; give it as linux/386=.',
    );
  });

  test('a root of an arch no platform is known for is refused', async () => {
    await expect(
      checkSourceArch({ platform: { os: 'linux', architecture: '386' }, root }, manifest('m68k')),
    ).rejects.toThrow('Input "platforms": /srv/root is m68k, an arch of no known platform.');
  });

  test('a root of its line passes; one without manifest or pacman database is taken as given', async () => {
    const platform = { os: 'linux', architecture: '386' };
    await expect(checkSourceArch({ platform, root }, manifest('i686'))).resolves.toBe(
      'linux/386: /srv/root is i686 (its manifest)',
    );
    await expect(checkSourceArch({ platform, root: work }, undefined)).resolves.toMatch(
      /no manifest or pacman database; taken as linux\/386$/,
    );
  });

  test("without a manifest, pacman's database says the arch", async () => {
    const db = path.join(work, 'pacman-root', 'var/lib/pacman/local');
    const packages: Array<[string, string]> = [
      ['glibc-2.39-1', 'x86_64'],
      ['tzdata-2024a-1', 'any'],
    ];
    for (const [name, arch] of packages) {
      await fs.mkdir(path.join(db, name), { recursive: true });
      await fs.writeFile(path.join(db, name, 'desc'), `%NAME%\n${name}\n\n%ARCH%\n${arch}\n\n`);
    }
    const source = {
      platform: { os: 'linux', architecture: '386' },
      root: path.join(work, 'pacman-root'),
    };
    await expect(checkSourceArch(source, undefined)).rejects.toThrow(
      /pacman-root is x86_64 \(linux\/amd64\), not linux\/386/,
    );
  });
});

describe('the tags of the index', () => {
  const platform = { os: 'linux', architecture: '386' };
  const other = { os: 'linux', architecture: 'amd64' };

  test("are the roots' when they agree", () => {
    expect(
      agreedTags([
        { platform, tags: ['1.0-1', 'latest'] },
        { platform: other, tags: ['1.0-1', 'latest'] },
      ]),
    ).toEqual(['1.0-1', 'latest']);
  });

  test('differing ones ask for tags', () => {
    expect(() =>
      agreedTags([
        { platform, tags: ['1.0-1', 'latest'] },
        { platform: other, tags: ['1.1-1', 'latest'] },
      ]),
    ).toThrow(/^Input "tags": the roots' manifests give different default tags .*; set tags\.$/);
  });
});

describe('annotations with platforms', () => {
  const lines = [
    'manifest:org.opencontainers.image.description=app',
    'index:org.opencontainers.image.vendor=eco',
    'index[linux/386]:org.example.odd=1',
    'manifest[linux/amd64]:org.example.amd=1',
    'manifest[linux/arm64/v8]:org.example.arm=1',
    'manifest-descriptor:org.example.descriptor=1',
  ].map(parseAnnotation);
  const i386 = { os: 'linux', architecture: '386' };
  const amd64 = { os: 'linux', architecture: 'amd64' };

  test('index lines go on the index; those of a platform no line names are said to be left out', () => {
    const result = indexAnnotations(lines, [i386, amd64]);
    expect(result.index).toEqual({ 'org.opencontainers.image.vendor': 'eco' });
    expect(result.ignored).toEqual([
      'org.example.odd: index level for linux/386 only, and the index is of every platform',
      'org.example.arm: for linux/arm64/v8, which platforms does not name',
    ]);
    const index = imageIndex([], result.index);
    expect(JSON.parse(index.bytes.toString()).annotations).toEqual(result.index);
    expect(JSON.parse(imageIndex([]).bytes.toString())).not.toHaveProperty('annotations');
  });

  test("each image takes the manifest lines and its own platform's, silently leaving the others'", () => {
    expect(manifestAnnotations(lines, amd64, true)).toEqual({
      manifest: { 'org.opencontainers.image.description': 'app', 'org.example.amd': '1' },
      ignored: [
        'org.example.descriptor: manifest-descriptor level, and import-image writes no descriptor annotations',
      ],
    });
    expect(manifestAnnotations(lines, i386, true).manifest).toEqual({
      'org.opencontainers.image.description': 'app',
    });
  });
});
