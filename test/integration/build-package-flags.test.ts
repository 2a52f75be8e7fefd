import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ARCH_BUILD_FLAGS } from '../../actions/build-package/src/makepkg.js';
import { runBundle } from '../helpers/bundle.js';
import { run } from '../helpers/build-package-repos.js';
import { i686BuildRoot } from '../helpers/i686-root.js';

// The compiler and linker flags build() gets, on this Debian host (whose makepkg.conf has them
// commented out) and in the i686 build root (a Debian i386 root, the same): a real makepkg build
// whose package holds the flags build() saw.

jest.setTimeout(300_000);

const PKGBUILD = `pkgname=flags
pkgver=1
pkgrel=1
pkgdesc='Records the build flags'
arch=('x86_64' 'i686')
license=('MIT')

build() {
	printf '%s\\n' "$CFLAGS" "$CXXFLAGS" "$LDFLAGS" > "$srcdir/flags"
}

package() {
	install -Dm644 "$srcdir/flags" "$pkgdir/usr/share/flags/flags"
}
`;

let work = '';

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-flags-'));
  await fs.chmod(work, 0o755);
  await fs.mkdir(path.join(work, 'app'));
  await fs.writeFile(path.join(work, 'app', 'PKGBUILD'), PKGBUILD);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function builtFlags(inputs: Record<string, string>): Promise<string[]> {
  const result = await runBundle('build-package', {
    path: path.join(work, 'app'),
    vcs: 'none',
    'output-dir': path.join(work, `out-${inputs.arch}`),
    ...inputs,
  });
  expect(result.log).not.toContain('::error');
  expect(result.code).toBe(0);
  const file = (result.outputs.packages ?? '').split('\n')[0] as string;
  return run('bsdtar', ['-xOf', file, 'usr/share/flags/flags']).trim().split('\n');
}

test("an x86_64 host build gets Arch Linux's makepkg.conf flags", async () => {
  const flags = ARCH_BUILD_FLAGS.x86_64;
  expect(await builtFlags({ arch: 'x86_64' })).toEqual([
    flags?.cflags,
    `${flags?.cflags} -Wp,-D_GLIBCXX_ASSERTIONS`,
    flags?.ldflags,
  ]);
});

test("an i686 build in the build root gets Arch Linux 32's flags", async () => {
  const flags = ARCH_BUILD_FLAGS.i686;
  const buildRoot = await i686BuildRoot();
  expect(await builtFlags({ arch: 'i686', 'build-root': buildRoot })).toEqual([
    flags?.cflags,
    `${flags?.cflags} -Wp,-D_GLIBCXX_ASSERTIONS`,
    flags?.ldflags,
  ]);
});

test('an i686 host build gets them with -m32', async () => {
  const flags = ARCH_BUILD_FLAGS.i686;
  const [cflags, , ldflags] = await builtFlags({ arch: 'i686' });
  expect(cflags).toBe(`-m32 ${flags?.cflags}`);
  expect(ldflags).toBe(`-m32 ${flags?.ldflags}`);
});
