import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  pacmanOwners,
  unlistedLibraries,
} from '../../actions/build-package/src/linked-libraries.js';
import { runBundle } from '../helpers/bundle.js';

// The warning about a linked library that no package in depends provides, on real packages built
// by the bundle on this Debian host: a program linking the host's ncurses (libncursesw.so.6,
// from Debian's libncurses-dev), and an "ncurses" package holding a copy of that library,
// installed with the real pacman into a root, whose local database then names the owner.

jest.setTimeout(300_000);

const HOST_NCURSES = '/usr/lib/x86_64-linux-gnu/libncursesw.so.6';

const curses = (depends: string) => `pkgname=curses
pkgver=1
pkgrel=1
pkgdesc='Links ncurses'
arch=('x86_64')
license=('MIT')
depends=(${depends})

build() {
	printf '#include <ncurses.h>\\nint main(void) { initscr(); endwin(); return 0; }\\n' > "$srcdir/curses.c"
	cc $CFLAGS $LDFLAGS -o "$srcdir/curses" "$srcdir/curses.c" -lncursesw
}

package() {
	install -Dm755 "$srcdir/curses" "$pkgdir/usr/bin/curses"
}
`;

const NCURSES = `pkgname=ncurses
pkgver=6.4
pkgrel=1
pkgdesc='The host library, packaged'
arch=('x86_64')
license=('MIT')
provides=('libncursesw.so=6-64')

package() {
	install -Dm755 "$(readlink -f ${HOST_NCURSES})" "$pkgdir/usr/lib/libncursesw.so.6.4"
	ln -s libncursesw.so.6.4 "$pkgdir/usr/lib/libncursesw.so.6"
}
`;

let work = '';

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-libraries-'));
  await fs.chmod(work, 0o755);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function build(name: string, pkgbuild: string) {
  const dir = path.join(work, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'PKGBUILD'), pkgbuild);
  const result = await runBundle('build-package', {
    path: dir,
    vcs: 'none',
    'output-dir': path.join(work, `out-${name}`),
  });
  expect(result.log).not.toContain('::error');
  expect(result.code).toBe(0);
  return { log: result.log, file: (result.outputs.packages ?? '').split('\n')[0] as string };
}

const warnings = (log: string) => log.split('\n').filter((line) => line.startsWith('::warning'));

test('a host build that links a host library not in depends warns on the PKGBUILD', async () => {
  const { log } = await build('curses-glibc', curses("'glibc'"));
  expect(warnings(log)).toEqual([
    expect.stringMatching(
      new RegExp(
        `^::warning title=A library not in depends,file=\\S*curses-glibc/PKGBUILD::curses: /usr/bin/curses needs libncursesw\\.so\\.6, found only on the host \\(${HOST_NCURSES.replace(/\./g, '\\.')}\\): a host build links the host's libraries`,
      ),
    ),
  ]);
});

test('glibc in depends covers the C library on the host: no warning', async () => {
  const program = `pkgname=plain\npkgver=1\npkgrel=1\narch=('x86_64')\ndepends=('glibc')\nbuild() {\n\tprintf 'int main(void) { return 0; }\\n' > "$srcdir/p.c"\n\tcc -o "$srcdir/p" "$srcdir/p.c"\n}\npackage() {\n\tinstall -Dm755 "$srcdir/p" "$pkgdir/usr/bin/plain"\n}\n`;
  const { log } = await build('plain', program);
  expect(warnings(log)).toEqual([]);
});

test("a root's pacman database names the owner, and depends on it (or its provides) is enough", async () => {
  const program = await build('curses-for-root', curses("'glibc'"));
  const library = await build('ncurses', NCURSES);
  const root = path.join(work, 'root');
  await fs.mkdir(path.join(root, 'var/lib/pacman'), { recursive: true });
  const conf = path.join(work, 'pacman.conf');
  await fs.writeFile(conf, '[options]\nArchitecture = auto\nSigLevel = Never\n');
  execFileSync(
    'pacman',
    [
      ...['-U', '--root', root, '--dbpath', path.join(root, 'var/lib/pacman')],
      ...['--config', conf, '--noconfirm', '--nodeps', '--noscriptlet', library.file],
    ],
    { stdio: 'pipe' },
  );

  const owners = await pacmanOwners(root);
  expect(owners.get('/usr/lib/libncursesw.so.6')?.name).toBe('ncurses');
  const place = { root, onHost: false };
  const check = (depends: string[]) =>
    unlistedLibraries(program.file, depends, place, owners, path.join(work, 'unpacked'));
  expect(await check(['glibc'])).toEqual([
    '/usr/bin/curses needs libncursesw.so.6, which package ncurses provides in the build root, but ncurses is not in depends: add it, or the minimal root will lack libncursesw.so.6.',
  ]);
  expect(await check(['glibc', 'ncurses>=6'])).toEqual([]);
  expect(await check(['libncursesw.so'])).toEqual([]);
});
