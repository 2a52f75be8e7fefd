import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { packageFilesIn, run } from '../helpers/build-package-repos.js';
import { i686BuildRoot, mountsUnder } from '../helpers/i686-root.js';

// syncdeps: the PKGBUILD's makedepends is a package built here with the real makepkg into a
// local repository, which the build root's own pacman.conf names; the real pacman installs it
// into the root before makepkg. The build root is an overlay over the cached i686 root
// (test/helpers/i686-root.ts), so the cache itself stays as it was.
// pgp-keys: a key generated here (no network) signs a source; the PKGBUILD's validpgpkeys names it.

let work: string;
let root: string;

const GREETER_PKGBUILD = `pkgname=greeter
pkgver=1.0
pkgrel=1
arch=(i686)
makedepends=('libgreet>=1.0')
build() {
\tcat /usr/share/greet/words > "$srcdir/words"
}
package() {
\tinstall -Dm644 "$srcdir/words" "$pkgdir/usr/share/greeter/words"
}
`;

async function mountOverlay(lower: string, dir: string): Promise<string> {
  const [upper, workdir, merged] = ['upper', 'work', 'merged'].map((name) => path.join(dir, name));
  for (const sub of [upper, workdir, merged] as string[]) await fs.mkdir(sub, { recursive: true });
  run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${upper},workdir=${workdir}`,
    merged as string,
  ]);
  return merged as string;
}

beforeAll(async () => {
  const cached = await i686BuildRoot((line) => console.log(line));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-deps-'));
  await fs.chmod(work, 0o755);
  root = await mountOverlay(cached, path.join(work, 'overlay'));
  const repo = await buildFixtureRepo({
    dir: path.join(work, 'fixtures'),
    arch: 'i686',
    repoName: 'deps',
    packages: [
      {
        name: 'libgreet',
        arch: 'any',
        files: { 'usr/share/greet/words': 'hello from libgreet\n' },
      },
    ],
  });
  await fs.cp(repo.repoDir, path.join(root, 'srv/deps-repo'), {
    recursive: true,
    dereference: true, // fs.cp would turn repo-add's relative NAME.db link into a host path
  });
  await fs.writeFile(
    path.join(root, 'etc/pacman.conf'),
    '[options]\nArchitecture = auto\nSigLevel = Never\n\n[deps]\nServer = file:///srv/deps-repo\n',
  );
  await fs.mkdir(path.join(work, 'greeter'));
  await fs.writeFile(path.join(work, 'greeter/PKGBUILD'), GREETER_PKGBUILD);
}, 900_000);
afterAll(async () => {
  if (root) run('umount', [root]);
  await fs.rm(work, { recursive: true, force: true });
});

function installedInRoot(): string {
  return run('pacman', [
    '--root',
    root,
    '--dbpath',
    path.join(root, 'var/lib/pacman'),
    '-Qi',
    'libgreet',
  ]);
}

describe('syncdeps', () => {
  test('without it the makedepends is missing in the build root and the build fails', async () => {
    const out = path.join(work, 'out-without');
    const result = await runBundle('build-package', {
      path: path.join(work, 'greeter'),
      vcs: 'none',
      'build-root': root,
      'output-dir': out,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)[0]).toMatch(/^The build of greeter failed/);
    expect(result.log).toContain('/usr/share/greet/words: No such file or directory');
    expect(await packageFilesIn(out)).toEqual([]);
  }, 300_000);

  test('pacman installs the makedepends from the root’s repository, then makepkg builds', async () => {
    const out = path.join(work, 'out-with');
    const result = await runBundle('build-package', {
      path: path.join(work, 'greeter'),
      vcs: 'none',
      'build-root': root,
      'output-dir': out,
      syncdeps: 'true',
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toMatch(
      /\[command\]setarch i686 pacman --sysroot \S+ .*-Sy --needed --asdeps 'libgreet>=1\.0'/,
    );
    expect(installedInRoot()).toMatch(/^Install Reason\s*: Installed as a dependency/m);
    const file = result.outputs.packages as string;
    expect(path.basename(file)).toBe('greeter-1.0-1-i686.pkg.tar.xz');
    expect(run('bsdtar', ['-xOf', file, 'usr/share/greeter/words'])).toBe('hello from libgreet\n');
    // The overlay itself is a mount point; nothing the build mounted is left below it.
    expect((await mountsUnder(root)).filter((point) => point !== root)).toEqual([]);
  }, 300_000);

  test('a dependency in no repository of the root fails before makepkg, naming it', async () => {
    const dir = path.join(work, 'missing');
    await fs.mkdir(dir);
    await fs.writeFile(
      path.join(dir, 'PKGBUILD'),
      GREETER_PKGBUILD.replace("makedepends=('libgreet>=1.0')", 'depends=(no-such-package)'),
    );
    const result = await runBundle('build-package', {
      path: dir,
      vcs: 'none',
      'build-root': root,
      syncdeps: 'true',
    });
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^syncdeps: pacman could not install no-such-package into /);
    expect(errors[0]).toMatch(/: error: target not found: no-such-package$/);
    expect(result.log).not.toContain('makepkg: greeter');
  }, 300_000);

  test('without a build root syncdeps is refused in one line', async () => {
    const result = await runBundle('build-package', {
      path: path.join(work, 'greeter'),
      syncdeps: 'true',
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      'Input "syncdeps": installs the dependencies into the build root and needs build-root; for a host build, install them in an earlier step.',
    ]);
  });
});

describe('pgp-keys', () => {
  let signed: string;
  let publicKey: string;

  beforeAll(async () => {
    const gnupg = path.join(work, 'signer-gnupg');
    await fs.mkdir(gnupg, { mode: 0o700 });
    const gpg = (args: string[]) => run('gpg', ['--homedir', gnupg, '--batch', ...args]);
    try {
      gpg([
        '--passphrase',
        '',
        '--quick-gen-key',
        'arch-core test signer <signer@example.invalid>',
        'ed25519',
        'sign',
        'never',
      ]);
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys']))?.[1];
      if (!fingerprint) throw new Error('gpg made no key');
      publicKey = gpg(['--armor', '--export', fingerprint]);
      signed = path.join(work, 'signed');
      await fs.mkdir(signed);
      await fs.writeFile(path.join(signed, 'data.txt'), 'signed data\n');
      gpg([
        '--detach-sign',
        '--output',
        path.join(signed, 'data.txt.sig'),
        path.join(signed, 'data.txt'),
      ]);
      await fs.writeFile(
        path.join(signed, 'PKGBUILD'),
        [
          'pkgname=signed-data',
          'pkgver=1.0',
          'pkgrel=1',
          'arch=(any)',
          'source=(data.txt data.txt.sig)',
          'sha256sums=(SKIP SKIP)',
          `validpgpkeys=(${fingerprint})`,
          'package() { install -Dm644 "$srcdir/data.txt" "$pkgdir/usr/share/signed-data/data.txt"; }',
          '',
        ].join('\n'),
      );
    } finally {
      run('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent']);
    }
  }, 60_000);

  test('without the key the signature cannot be checked and the build fails', async () => {
    const result = await runBundle('build-package', {
      path: signed,
      vcs: 'none',
      'output-dir': path.join(work, 'out-nokey'),
    });
    expect(result.code).toBe(1);
    expect(result.log).toMatch(/data\.txt \.\.\. FAILED \(unknown public key [0-9A-F]+\)/);
  }, 120_000);

  test('with the key imported into the build user’s keyring the source verifies', async () => {
    const result = await runBundle('build-package', {
      path: signed,
      vcs: 'none',
      'output-dir': path.join(work, 'out-key'),
      'pgp-keys': publicKey,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toMatch(/data\.txt \.\.\. Passed/);
    // The import started no gpg-agent for the build user (pgrep exits 1: no such process).
    expect(spawnSync('pgrep', ['-u', 'builder', '-x', 'gpg-agent']).status).toBe(1);
    expect(
      run('bsdtar', ['-xOf', result.outputs.packages as string, 'usr/share/signed-data/data.txt']),
    ).toBe('signed data\n');
  }, 120_000);

  test('text that is not an armored public key is refused in one line', async () => {
    const result = await runBundle('build-package', {
      path: signed,
      'pgp-keys': 'ABCDEF0123456789',
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      'Input "pgp-keys": give one or more armored public key blocks (-----BEGIN PGP PUBLIC KEY BLOCK----- … as gpg --armor --export writes them) and nothing else.',
    ]);
  });
});
