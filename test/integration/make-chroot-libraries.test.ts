import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRootLibraries } from '../../actions/core/src/root-libraries.js';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';

// make-chroot's library check: programs and libraries compiled here with the real gcc (64- and
// 32-bit), the loader and C library copied from this machine, laid out as Arch lays them out;
// then make-chroot's bundle on packages of those files.
jest.setTimeout(240_000);

let work: string;

/** Compiles C `source` with gcc into `output`; `flags` as gcc takes them. */
async function compile(name: string, source: string, output: string, flags: string[]) {
  const file = path.join(work, 'src', `${name}.c`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.mkdir(path.dirname(output), { recursive: true });
  await fs.writeFile(file, source);
  execFileSync('gcc', ['-O2', '-o', output, file, ...flags], { stdio: 'pipe' });
}

interface Built {
  /** The program, linked to libgreet.so.1 with RUNPATH $ORIGIN/../lib/greet. */
  app: string;
  /** The same program without a RUNPATH: it finds libgreet only on the system paths. */
  plainApp: string;
  libgreet: string;
}

async function buildGreeting(bits: 32 | 64): Promise<Built> {
  const out = path.join(work, `build${bits}`);
  const machine = bits === 32 ? ['-m32'] : [];
  const libgreet = path.join(out, 'libgreet.so.1');
  await compile(
    `greet${bits}`,
    '#include <stdio.h>\nvoid greet(void) { puts("hello from libgreet"); }\n',
    libgreet,
    [...machine, '-shared', '-fPIC', '-Wl,-soname,libgreet.so.1'],
  );
  const main = 'void greet(void);\nint main(void) { greet(); return 0; }\n';
  const link = [...machine, '-L', out, '-l:libgreet.so.1'];
  const app = path.join(out, 'app');
  await compile(`app${bits}`, main, app, [
    ...link,
    '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib/greet',
  ]);
  const plainApp = path.join(out, 'plain-app');
  await compile(`plain${bits}`, main, plainApp, link);
  return { app, plainApp, libgreet };
}

let built64: Built;
let built32: Built;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'make-chroot-libraries-'));
  built64 = await buildGreeting(64);
  built32 = await buildGreeting(32);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function place(root: string, inside: string, from: string): Promise<void> {
  await fs.mkdir(path.join(root, path.dirname(inside)), { recursive: true });
  await fs.copyFile(from, path.join(root, inside));
  await fs.chmod(path.join(root, inside), 0o755);
}

/** A root with this machine's loader and C library where Arch has them (/usr/lib, lib links). */
async function archLikeRoot(name: string, bits: 32 | 64): Promise<string> {
  const root = path.join(work, name);
  await fs.mkdir(path.join(root, 'usr/lib'), { recursive: true });
  if (bits === 64) {
    await place(root, 'usr/lib/ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2');
    await place(root, 'usr/lib/libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6');
    // An absolute link, as Arch has it: resolved inside the root, not on this machine.
    await fs.symlink('/usr/lib', path.join(root, 'lib64'));
  } else {
    await place(root, 'usr/lib/ld-linux.so.2', '/lib32/ld-linux.so.2');
    await place(root, 'usr/lib/libc.so.6', '/lib32/libc.so.6');
    await fs.symlink('usr/lib', path.join(root, 'lib'));
  }
  return root;
}

describe('the check on roots laid out by hand', () => {
  test.each([64, 32] as const)(
    '%i-bit: the loader, libc and a $ORIGIN RUNPATH resolve; nothing missing',
    async (bits) => {
      const built = bits === 64 ? built64 : built32;
      const root = await archLikeRoot(`complete${bits}`, bits);
      await place(root, 'usr/bin/app', built.app);
      await place(root, 'usr/lib/greet/libgreet.so.1', built.libgreet);
      const report = checkRootLibraries(root);
      expect(report.misses).toEqual([]);
      // app, libgreet and libc (the loader needs nothing): 4 objects counted with the loader.
      expect(report.objects).toBeGreaterThanOrEqual(3);
      expect(report.references).toBeGreaterThanOrEqual(4);
    },
  );

  test('a library that is missing, of the other class, or only on this machine is a miss', async () => {
    const root = await archLikeRoot('misses', 64);
    await place(root, 'usr/bin/app', built64.app);
    const appMisses = () =>
      checkRootLibraries(root).misses.filter((miss) => miss.object === '/usr/bin/app');
    expect(checkRootLibraries(root).misses).toEqual([
      { object: '/usr/bin/app', missing: 'libgreet.so.1', kind: 'library' },
    ]);
    // A 32-bit libgreet where the 64-bit one should be: the loader skips it, and so does the check.
    await place(root, 'usr/lib/greet/libgreet.so.1', built32.libgreet);
    expect(appMisses()).toEqual([
      { object: '/usr/bin/app', missing: 'libgreet.so.1', kind: 'library' },
    ]);
    // The 32-bit libgreet is checked too: its libc is not in this 64-bit root.
    expect(checkRootLibraries(root).misses).toContainEqual({
      object: '/usr/lib/greet/libgreet.so.1',
      missing: 'libc.so.6',
      kind: 'library',
    });
    // An absolute link to a library of this machine: inside the root it points at nothing.
    const hostLibrary = path.join(work, 'build64/libgreet.so.1');
    await fs.rm(path.join(root, 'usr/lib/greet/libgreet.so.1'));
    await fs.symlink(hostLibrary, path.join(root, 'usr/lib/greet/libgreet.so.1'));
    expect(checkRootLibraries(root).misses).toEqual([
      { object: '/usr/bin/app', missing: 'libgreet.so.1', kind: 'library' },
    ]);
  });

  test('a missing interpreter is a miss of its own', async () => {
    const root = await archLikeRoot('no-loader', 32);
    await fs.rm(path.join(root, 'usr/lib/ld-linux.so.2'));
    await place(root, 'usr/bin/app', built32.app);
    await place(root, 'usr/lib/greet/libgreet.so.1', built32.libgreet);
    const misses = checkRootLibraries(root).misses;
    expect(misses.filter((miss) => miss.object === '/usr/bin/app')).toEqual([
      { object: '/usr/bin/app', missing: '/lib/ld-linux.so.2', kind: 'interpreter' },
    ]);
    // libc too names the loader: as its interpreter (libc.so.6 runs) and as a library.
    expect(misses.filter((miss) => miss.object === '/usr/lib/libc.so.6')).toHaveLength(2);
  });

  test("the root's ld.so.conf and the files it includes are searched", async () => {
    const root = await archLikeRoot('ld-so-conf', 64);
    await place(root, 'usr/bin/plain-app', built64.plainApp);
    await place(root, 'opt/greet/lib/libgreet.so.1', built64.libgreet);
    expect(checkRootLibraries(root).misses).toEqual([
      { object: '/usr/bin/plain-app', missing: 'libgreet.so.1', kind: 'library' },
    ]);
    await fs.mkdir(path.join(root, 'etc/ld.so.conf.d'), { recursive: true });
    await fs.writeFile(path.join(root, 'etc/ld.so.conf'), 'include ld.so.conf.d/*.conf\n');
    await fs.writeFile(path.join(root, 'etc/ld.so.conf.d/greet.conf'), '# greet\n/opt/greet/lib\n');
    expect(checkRootLibraries(root).misses).toEqual([]);
  });

  test('static programs and files that are not ELF are not counted', async () => {
    const root = path.join(work, 'static');
    await compile('static', 'int main(void) { return 0; }\n', path.join(root, 'usr/bin/static'), [
      '-static',
    ]);
    await fs.writeFile(path.join(root, 'usr/bin/script'), '#!/bin/sh\n', { mode: 0o755 });
    await fs.writeFile(path.join(root, 'usr/bin/short.so'), '\x7fELF', { mode: 0o755 });
    expect(checkRootLibraries(root)).toEqual({ objects: 0, references: 0, misses: [] });
  });
});

describe('make-chroot with check-libraries', () => {
  let repo: FixtureRepo;

  beforeAll(async () => {
    const read = (file: string) => fs.readFile(file);
    repo = await buildFixtureRepo({
      dir: path.join(work, 'packages'),
      arch: 'x86_64',
      repoName: 'fixtures',
      packages: [
        {
          name: 'glibc',
          files: {
            // Where the programs' PT_INTERP names it (Arch has /lib64 link to /usr/lib).
            'lib64/ld-linux-x86-64.so.2': await read('/lib64/ld-linux-x86-64.so.2'),
            'usr/lib/libc.so.6': await read('/lib/x86_64-linux-gnu/libc.so.6'),
          },
          modes: { 'lib64/ld-linux-x86-64.so.2': 0o755, 'usr/lib/libc.so.6': 0o755 },
        },
        {
          name: 'libgreet',
          depends: ['glibc'],
          files: { 'usr/lib/libgreet.so.1': await read(built64.libgreet) },
          modes: { 'usr/lib/libgreet.so.1': 0o755 },
        },
        {
          // Forgets libgreet in its depends: the mistake the check is for.
          name: 'greeter',
          depends: ['glibc'],
          files: { 'usr/bin/greeter': await read(built64.plainApp) },
          modes: { 'usr/bin/greeter': 0o755 },
        },
      ],
    });
    // repo-add made the files database the error's package hint comes from.
    expect(await fs.readdir(repo.repoDir)).toContain('fixtures.files');
  });

  function inputs(name: string, extra: Record<string, string>): Record<string, string> {
    return {
      packages: 'greeter',
      repos: `fixtures=${repo.repoDir}`,
      mirror: 'none',
      arch: 'x86_64',
      root: path.join(work, name),
      ...extra,
    };
  }

  test('a library no package brought is an error naming the program, the library and its package', async () => {
    const result = await runBundle('make-chroot', inputs('greeter-error', {}));
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      expect.stringMatching(
        /^The root cannot run what it holds: \/usr\/bin\/greeter needs the library libgreet\.so\.1, not in the root, which libgreet \(fixtures\) provides\. Add the packages that provide them, or set check-libraries: warn\.$/,
      ),
    ]);
    expect(result.log).not.toMatch(/^\s+at /m);
    await expect(fs.access(path.join(work, 'greeter-error'))).rejects.toThrow();
  });

  test('check-libraries: warn makes it a warning; off skips it', async () => {
    const warned = await runBundle(
      'make-chroot',
      inputs('greeter-warn', { 'check-libraries': 'warn' }),
    );
    expect(warned.code).toBe(0);
    expect(warned.log).toMatch(
      /^::warning::\/usr\/bin\/greeter needs the library libgreet\.so\.1, not in the root, which libgreet \(fixtures\) provides$/m,
    );
    expect(warned.summary).toMatch(
      /Libraries checked.*\d+ ELF programs and libraries, \d+ references, 1 missing/,
    );
    const off = await runBundle('make-chroot', inputs('greeter-off', { 'check-libraries': 'off' }));
    expect(off.code).toBe(0);
    expect(off.log).not.toMatch(/::warning::/);
    expect(off.summary).toMatch(/Libraries checked.*no \(check-libraries: off\)/);
  });

  test('with the library installed the root passes, and the summary counts what was checked', async () => {
    const result = await runBundle(
      'make-chroot',
      inputs('greeter-ok', { packages: 'greeter\nlibgreet' }),
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    // greeter, libgreet, libc: three objects (the loader needs nothing). References: greeter's
    // interpreter and two libraries, libgreet's libc, and libc's loader as interpreter and library.
    expect(result.summary).toMatch(
      /Libraries checked.*3 ELF programs and libraries, 6 references, 0 missing/,
    );
  });

  test('an unknown mode is an input error', async () => {
    const result = await runBundle(
      'make-chroot',
      inputs('greeter-bad', { 'check-libraries': 'strict' }),
    );
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      'Input "check-libraries": "strict" is not one of error, warn, off.',
    ]);
  });
});
