import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  GZIP_MEMBER_BYTES,
  compressionOf,
  imageConfigJson,
  isSafeEntryName,
  layerFromRoot,
  layerFromTarball,
  readFileFromTarball,
} from '../../actions/import-image/src/oci.js';
import { RegistryClient, parseChallenge } from '../../actions/core/src/registry.js';
import { sha256 } from '../../actions/core/src/files.js';
import { startTokenRegistry } from '../helpers/token-registry.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'oci-unit-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const sha = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('layer', () => {
  test('digest and diffID are those of the file and of its gunzipped tar; members decode whole', async () => {
    const root = path.join(work, 'root');
    await fs.mkdir(path.join(root, 'data'), { recursive: true });
    await fs.writeFile(path.join(root, 'data/big'), randomBytes(GZIP_MEMBER_BYTES * 2 + 1234));
    await fs.writeFile(path.join(root, 'data/small'), 'x\n');
    const file = path.join(work, 'layer.tgz');
    const layer = await layerFromRoot(root, file, { mtimeClamp: 1_700_000_000 });
    const compressed = await fs.readFile(file);
    expect(layer.digest).toBe(sha(compressed));
    expect(layer.size).toBe(compressed.length);
    const tar = zlib.gunzipSync(compressed);
    expect(layer.diffId).toBe(sha(tar));
    expect(layer.uncompressedSize).toBe(tar.length);
    // GNU gzip and tar read the multi-member file too.
    expect(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n')).toEqual(
      expect.arrayContaining(['data/', 'data/big', 'data/small']),
    );
    const again = await layerFromRoot(root, path.join(work, 'again.tgz'), {
      mtimeClamp: 1_700_000_000,
    });
    expect(again.digest).toBe(layer.digest);
  });

  test('a tarball is normalized: owners 0, names dropped, mtimes clamped; a file can be read from it', async () => {
    const root = path.join(work, 'tree');
    await fs.mkdir(path.join(root, 'usr/share/arch-core'), { recursive: true });
    await fs.writeFile(path.join(root, 'usr/share/arch-core/manifest.json'), '{"hello":1}');
    const tarball = path.join(work, 'tree.tar.xz');
    execFileSync('tar', [
      '-cJf',
      tarball,
      '--owner=1234',
      '--group=99',
      '--mtime=@2000000000',
      '-C',
      root,
      '.',
    ]);
    expect(compressionOf(await fs.readFile(tarball))).toBe('xz');
    const layer = await layerFromTarball(tarball, path.join(work, 'tree.tgz'), {
      mtimeClamp: 1_600_000_000,
    });
    const listing = execFileSync(
      'tar',
      ['-tvzf', path.join(work, 'tree.tgz'), '--numeric-owner', '--full-time'],
      {
        encoding: 'utf8',
      },
    );
    expect(listing).not.toMatch(/1234|\b99\b/);
    expect(listing).toMatch(/0\/0 .*2020-09-13 12:26:40 \.\/usr\/share\/arch-core\/manifest\.json/);
    expect(layer.diffId).toBe(sha(zlib.gunzipSync(await fs.readFile(path.join(work, 'tree.tgz')))));
    expect(
      (await readFileFromTarball(tarball, 'usr/share/arch-core/manifest.json'))?.toString(),
    ).toBe('{"hello":1}');
  });

  test('a tarball with an entry outside the root is refused', async () => {
    const dir = path.join(work, 'escape');
    await fs.mkdir(path.join(dir, 'a'), { recursive: true });
    await fs.writeFile(path.join(dir, 'evil'), 'x');
    const tarball = path.join(work, 'escape.tar');
    execFileSync('tar', ['-P', '-cf', tarball, '-C', path.join(dir, 'a'), '../evil']);
    await expect(
      layerFromTarball(tarball, path.join(work, 'escape.tgz'), { mtimeClamp: 0 }),
    ).rejects.toThrow(/has an entry "\.\.\/evil" outside the root/);
  });

  test.each([
    ['usr/bin/x', true],
    ['./usr/bin/x', true],
    ['/etc/passwd', false],
    ['usr/../../x', false],
  ])('isSafeEntryName(%s) = %p', (name, safe) => expect(isSafeEntryName(name)).toBe(safe));

  test('the config is fixed bytes: same inputs, same digest; keys in order', () => {
    const make = (): Buffer =>
      imageConfigJson(
        { os: 'linux', architecture: '386' },
        '2026-11-25T10:00:00Z',
        {
          labels: { b: '2', a: '1' },
          cmd: ['/usr/bin/hello'],
        },
        ['sha256:abc'],
      );
    expect(sha(make())).toBe(sha(make()));
    expect(make().toString()).toBe(
      '{"created":"2026-11-25T10:00:00Z","architecture":"386","os":"linux","config":{"Cmd":["/usr/bin/hello"],"Labels":{"a":"1","b":"2"}},"rootfs":{"type":"layers","diff_ids":["sha256:abc"]},"history":[{"created":"2026-11-25T10:00:00Z","created_by":"arch-core import-image","comment":"the root as one layer"}]}',
    );
  });
});

describe('registry authentication', () => {
  test.each([
    [
      'Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"',
      'bearer',
      { realm: 'https://auth.example/token', service: 'registry', scope: 'repository:a:pull' },
    ],
    ['Basic realm="test-registry"', 'basic', { realm: 'test-registry' }],
  ])('parseChallenge(%s)', (header, scheme, params) => {
    expect(parseChallenge(header)).toEqual({ scheme, params });
  });

  test('the Bearer token flow: realm, service and scope, then the token on every request', async () => {
    const registry = await startTokenRegistry({
      grant: ({ authorization, params }) =>
        authorization === `Basic ${Buffer.from('me:pw').toString('base64')}`
          ? `tok-${params.get('scope')}`
          : undefined,
      accepted: 'tok-repository:team/app:pull,push',
      withQuery: true,
    });
    const client = new RegistryClient({
      address: registry.address,
      insecure: true,
      username: 'me',
      password: 'pw',
    });
    try {
      await client.ping('team/app');
      expect(await client.blobExists('team/app', `sha256:${'0'.repeat(64)}`)).toBe(false);
      expect(registry.seen).toEqual([
        'GET /v2/ ',
        'GET /token?service=test&scope=repository%3Ateam%2Fapp%3Apull%2Cpush Basic',
        'GET /v2/ Bearer',
        `HEAD /v2/team/app/blobs/sha256:${'0'.repeat(64)} Bearer`,
      ]);
      const wrong = new RegistryClient({
        address: registry.address,
        insecure: true,
        username: 'me',
        password: 'no',
      });
      await expect(wrong.ping('team/app')).rejects.toThrow(
        /token service .* refused the credentials of user "me" \(HTTP 401\)/,
      );
      wrong.close();
    } finally {
      client.close();
      registry.close();
    }
  });
});

/**
 * A fixed tree whose layer digests were recorded with the writer as it was before streaming and
 * parallel compression: the same root and level must keep giving those bytes.
 */
async function makeFixedTree(root: string): Promise<void> {
  const text = (lines: number): string =>
    Array.from(
      { length: lines },
      (_, i) => `line ${i} of a fixed file ${(i * 7919) % 1000}\n`,
    ).join('');
  await fs.mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await fs.mkdir(path.join(root, 'usr/share', 'n'.repeat(90), 'm'.repeat(40)), { recursive: true });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(root, 'usr/bin/tool'), text(100_000)); // ~4 MiB: several members
  await fs.chmod(path.join(root, 'usr/bin/tool'), 0o755);
  await fs.link(path.join(root, 'usr/bin/tool'), path.join(root, 'usr/bin/tool-again'));
  await fs.symlink('../usr/bin/tool', path.join(root, 'etc/tool-link'));
  await fs.writeFile(path.join(root, 'usr/share', 'n'.repeat(90), 'm'.repeat(40), 'ü'), 'x\n');
  await fs.writeFile(path.join(root, 'etc/empty'), '');
  for (let i = 0; i < 300; i++) await fs.writeFile(path.join(root, `etc/f${i}`), text(i % 37));
  for (const entry of await fs.readdir(root, { recursive: true })) {
    const full = path.join(root, entry);
    if (!(await fs.lstat(full)).isSymbolicLink()) {
      await fs.chmod(full, (await fs.stat(full)).isDirectory() ? 0o755 : 0o644);
      await fs.utimes(full, 1_600_000_000, 1_600_000_000);
    }
  }
  await fs.chmod(path.join(root, 'usr/bin/tool'), 0o4755);
}

describe('fixed layer digests', () => {
  // The tar stream is the one 1.0 wrote. The gzip digests are those of zlib's memLevel 9 (the
  // CHANGELOG says so): 1.0's, with memLevel 8, were sha256:3dde6b41… (6) and sha256:08c73e37… (1).
  const diffId = 'sha256:6b4013a2792f5f220cc6d81c1d6ceec937b52f59f4bbf5f6ad293582ca0d1c0d';
  test.each([
    [6, 'sha256:fab94fdbec437e0076f3f92a144857a7fa99ef2ea3b50507b4d92c45cc1dea0e'],
    [1, 'sha256:69f3a62f30ada9e515742fcdee5aaf0a13cbf5e5e1bc17c9fe9735325f215d64'],
  ])(
    'gzip level %i gives the recorded digest, over the recorded tar stream',
    async (level, digest) => {
      const root = path.join(work, 'fixed');
      await fs.rm(root, { recursive: true, force: true });
      await makeFixedTree(root);
      const file = path.join(work, `fixed-${level}.tgz`);
      const layer = await layerFromRoot(root, file, { mtimeClamp: 1_700_000_000, level });
      expect(layer.digest).toBe(digest);
      expect(layer.diffId).toBe(diffId);
      const unpacked = zlib.gunzipSync(await fs.readFile(file));
      expect(`sha256:${sha256(unpacked)}`).toBe(diffId);
    },
    30_000,
  ); // 300 files and 4 MiB compressed: seconds on a busy machine
});
