import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildFixtureRepo,
  packageFileVersion,
  type FixtureRepo,
} from '../helpers/arch-packages.js';

// The fixture builder itself: real makepkg packages in a real repo-add repository.
jest.setTimeout(180_000);

let work: string;
const repos: Partial<Record<'x86_64' | 'i686', FixtureRepo>> = {};

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'make-chroot-fixtures-'));
  for (const arch of ['x86_64', 'i686'] as const) {
    repos[arch] = await buildFixtureRepo({
      dir: path.join(work, arch),
      arch,
      repoName: 'fixtures',
      packages: [
        {
          name: 'hello',
          version: '2.1',
          depends: ['libgreet'],
          program: { prints: `hello ${arch}` },
        },
        { name: 'libgreet', files: { 'usr/share/greet/words': 'hi\n' } },
      ],
    });
  }
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe.each(['x86_64', 'i686'] as const)('buildFixtureRepo %s', (arch) => {
  test('makes package files pacman reads, with the requested arch and a static program', async () => {
    const repo = repos[arch]!;
    expect(packageFileVersion(repo.packageFiles.hello!)).toEqual({
      name: 'hello',
      version: '2.1-1',
    });
    expect(path.basename(repo.packageFiles.hello!)).toBe(`hello-2.1-1-${arch}.pkg.tar.xz`);
    const info = execFileSync('pacman', ['-Qip', repo.packageFiles.hello!], { encoding: 'utf8' });
    expect(info).toMatch(/Depends On\s*:\s*libgreet/);
    const extracted = path.join(work, `${arch}-x`);
    await fs.mkdir(extracted);
    execFileSync('bsdtar', ['-xf', repo.packageFiles.hello!, '-C', extracted]);
    const kind = execFileSync('file', ['-b', path.join(extracted, 'usr/bin/hello')], {
      encoding: 'utf8',
    });
    expect(kind).toContain(arch === 'i686' ? 'ELF 32-bit' : 'ELF 64-bit');
    expect(kind).toContain('statically linked');
    expect(execFileSync(path.join(extracted, 'usr/bin/hello'), { encoding: 'utf8' })).toBe(
      `hello ${arch}\n`,
    );
  });

  test('the repository database lists every package', async () => {
    const repo = repos[arch]!;
    const listing = execFileSync('bsdtar', ['-tf', repo.dbFile], { encoding: 'utf8' });
    expect(listing).toContain('hello-2.1-1/desc');
    expect(listing).toContain('libgreet-1.0-1/desc');
    await expect(fs.stat(path.join(repo.repoDir, 'fixtures.db'))).resolves.toBeDefined();
  });
});
