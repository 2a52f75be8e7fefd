import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import {
  FIXTURES,
  gitRepo,
  packageFilesIn,
  pacmanInfo,
  run,
} from '../helpers/build-package-repos.js';
import { i686BuildRoot, mountsUnder } from '../helpers/i686-root.js';

// The build inside an i686 build root: the cached Debian i386 root (test/helpers/i686-root.ts)
// stands in for an Arch Linux 32 base-devel root; the mechanism is the same (setarch i686 +
// chroot, proc/dev/sys mounted for the build and unmounted afterwards).

let work: string;
let root: string;

beforeAll(async () => {
  root = await i686BuildRoot((line) => console.log(line));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-root-'));
}, 900_000);
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function leftInRootTmp(): Promise<string[]> {
  return (await fs.readdir(path.join(root, 'tmp'))).filter((name) =>
    name.startsWith('arch-core-build'),
  );
}

describe('build-root', () => {
  test('uname -m says i686 inside the build, the package is i686, no mount is left', async () => {
    const dir = await gitRepo(path.join(FIXTURES, 'uname-app'), path.join(work, 'uname-app'));
    const out = path.join(work, 'out');
    expect(await mountsUnder(root)).toEqual([]);
    const result = await runBundle('build-package', {
      path: dir,
      'build-root': root,
      'build-user': 'rootbuilder',
      pkgext: '.pkg.tar.zst',
      'output-dir': out,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toContain(`mounted ${root}/proc`);
    expect(result.log).toContain(`mounted ${root}/dev`);
    expect(result.log).toContain(`mounted ${root}/sys`);
    expect(result.log).toMatch(/\[command\]setarch i686 chroot /);

    const hash = run('git', ['rev-parse', '--short', 'HEAD'], dir).trim();
    const file = result.outputs.packages as string;
    expect(path.basename(file)).toBe(`uname-app-r1.${hash}-1-i686.pkg.tar.zst`);
    expect(pacmanInfo(file)).toMatchObject({ Name: 'uname-app', Architecture: 'i686' });

    const extracted = path.join(work, 'x');
    await fs.mkdir(extracted);
    run('bsdtar', ['-xf', file, '-C', extracted]);
    expect(await fs.readFile(path.join(extracted, 'usr/share/uname-app/machine'), 'utf8')).toBe(
      'i686\n',
    );
    expect(await fs.readFile(path.join(extracted, 'usr/share/uname-app/user'), 'utf8')).toBe(
      'rootbuilder\n',
    );
    expect(run('file', ['-b', path.join(extracted, 'usr/bin/uname-app')])).toMatch(
      /ELF 32-bit .*Intel 80386/,
    );
    // The build user was created in the root, not on the host.
    expect(await fs.readFile(path.join(root, 'etc/passwd'), 'utf8')).toMatch(/^rootbuilder:/m);

    expect(await mountsUnder(root)).toEqual([]);
    expect(
      run('findmnt', ['-rn', '-o', 'TARGET'])
        .split('\n')
        .filter((t) => t.startsWith(root)),
    ).toEqual([]);
    expect(await leftInRootTmp()).toEqual([]);
    // The build released everything itself: the post step had nothing to do.
    expect(result.post?.code).toBe(0);
    expect(result.post?.log).toContain(
      'the build released everything it held; nothing to clean up',
    );
  }, 300_000);

  test('a failing build inside the root unmounts too', async () => {
    const dir = path.join(work, 'failing');
    await fs.cp(path.join(FIXTURES, 'uname-app'), dir, { recursive: true });
    const text = await fs.readFile(path.join(dir, 'PKGBUILD'), 'utf8');
    await fs.writeFile(
      path.join(dir, 'PKGBUILD'),
      text.replace('\tuname -m > machine\n', '\techo "inside: $(uname -m)"; false\n'),
    );
    const out = path.join(work, 'out-failing');
    const result = await runBundle('build-package', {
      path: dir,
      vcs: 'none',
      'build-root': root,
      'output-dir': out,
    });
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^The build of uname-app failed/);
    expect(errors[0]).toContain('inside: i686');
    expect(result.log).toContain('nothing the build mounted is left mounted');
    expect(await mountsUnder(root)).toEqual([]);
    expect(await packageFilesIn(out)).toEqual([]);
    expect(await leftInRootTmp()).toEqual([]);
  }, 300_000);

  test('a directory that is not a build root is refused', async () => {
    const result = await runBundle('build-package', {
      path: path.join(FIXTURES, 'uname-app'),
      'build-root': work,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "build-root": ${work} is not a build root: it has no /usr/bin/makepkg that can be run (make one with makepkg and a toolchain in it).`,
    ]);
  });

  /** A root with makepkg (a script) and this machine's bash, env and xz, without their libraries. */
  async function partialRoot(name: string): Promise<string> {
    const partial = path.join(work, name);
    await fs.mkdir(path.join(partial, 'usr/bin'), { recursive: true });
    await fs.writeFile(path.join(partial, 'usr/bin/makepkg'), '#!/bin/bash\n', { mode: 0o755 });
    for (const tool of ['bash', 'env', 'xz']) {
      await fs.copyFile(`/usr/bin/${tool}`, path.join(partial, 'usr/bin', tool));
    }
    return partial;
  }

  test('a program of the root that could not run there is named before anything starts', async () => {
    const partial = await partialRoot('without-libraries');
    const result = await runBundle('build-package', {
      path: path.join(FIXTURES, 'uname-app'),
      'build-root': partial,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "build-root": ${partial} is not a build root: /usr/bin/bash cannot run there, it needs the interpreter /lib64/ld-linux-x86-64.so.2, which is not in the root.`,
    ]);
    expect(await fs.readdir(partial)).toEqual(['usr']); // nothing made in it
  });

  test('a link that points out of the root does not count as the program', async () => {
    const partial = await partialRoot('env-points-out');
    await fs.rm(path.join(partial, 'usr/bin/env'));
    // /usr/bin/env on this machine, but inside the root the link names itself.
    await fs.symlink('/usr/bin/env', path.join(partial, 'usr/bin/env'));
    const result = await runBundle('build-package', {
      path: path.join(FIXTURES, 'uname-app'),
      'build-root': partial,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "build-root": ${partial} is not a build root: it has no /usr/bin/env that can be run (make one with makepkg and a toolchain in it).`,
    ]);
  });
});
