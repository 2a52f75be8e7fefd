import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo, hostGlibcPackage, type FixtureRepo } from '../helpers/arch-packages.js';
import { EXAMPLE_APP, hgRepo } from '../helpers/build-package-repos.js';
import { errorLines, runBundle } from '../helpers/bundle.js';

// Signed packages end to end, bundles driven as the runner drives them: build-package signs with
// gpg-key, make-chroot's pacman (the real one, through gpgme) checks against keyring. The test
// makes its keys and checks the signatures with gpg itself, independently of the actions' code.
jest.setTimeout(300_000);

let work: string;
let runnerTemp: string;
let gnupg: string;
let signer: { secret: string; public: string; fingerprint: string };
let other: { secret: string; public: string; fingerprint: string };
let appRepo: string;
let appPackages: string[];
let system: FixtureRepo;

function gpg(args: string[], home = gnupg, input?: string): string {
  return execFileSync('gpg', ['--homedir', home, '--batch', ...args], {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function makeKey(name: string): { secret: string; public: string; fingerprint: string } {
  const uid = `${name} <${name}@example.org>`;
  gpg(['--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(
    gpg(['--with-colons', '--list-secret-keys', uid]),
  )![1]!;
  return {
    secret: gpg(['--armor', '--export-secret-keys', fingerprint]),
    public: gpg(['--armor', '--export', fingerprint]),
    fingerprint,
  };
}

/** gpg --verify in a keyring holding only `publicKey`: the signer's fingerprint, or undefined. */
async function verifiedBy(file: string, publicKey: string): Promise<string | undefined> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'verify-'));
  try {
    gpg(['--import'], home, publicKey);
    const status = execFileSync(
      'gpg',
      ['--homedir', home, '--batch', '--status-fd', '1', '--verify', `${file}.sig`, file],
      { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return /^\[GNUPG:\] VALIDSIG ([0-9A-F]+)/m.exec(status)?.[1];
  } catch {
    return undefined;
  } finally {
    execFileSync('gpgconf', ['--homedir', home, '--kill', 'all']);
    await fs.rm(home, { recursive: true, force: true });
  }
}

/** The test's own signature of `file` by `fingerprint` (for the fixtures build-package does not make). */
function signAs(fingerprint: string, file: string): void {
  gpg([
    '--local-user',
    fingerprint,
    '--detach-sign',
    '--no-armor',
    '--output',
    `${file}.sig`,
    file,
  ]);
}

async function signingHomes(): Promise<string[]> {
  return (await fs.readdir(os.tmpdir())).filter(
    (name) => name.startsWith('arch-core-signing-') || name.startsWith('arch-core-keyring-'),
  );
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'signed-packages-'));
  runnerTemp = path.join(work, 'runner-temp');
  gnupg = path.join(work, 'gnupg');
  await fs.mkdir(runnerTemp);
  await fs.mkdir(gnupg, { mode: 0o700 });
  signer = makeKey('signer');
  other = makeKey('other');

  // glibc for the app, signed by the test itself as a distribution would sign its packages.
  system = await buildFixtureRepo({
    dir: path.join(work, 'system'),
    arch: 'x86_64',
    repoName: 'system',
    packages: [await hostGlibcPackage()],
  });
  signAs(signer.fingerprint, system.packageFiles.glibc!);
  execFileSync(
    'repo-add',
    ['-q', '--sign', '--key', signer.fingerprint, system.dbFile, system.packageFiles.glibc!],
    {
      env: { ...process.env, GNUPGHOME: gnupg },
      stdio: 'pipe',
    },
  );

  const source = await hgRepo(EXAMPLE_APP, path.join(work, 'hello'), 'v1.2');
  appRepo = path.join(work, 'app-repo');
  const build = await runBundle(
    'build-package',
    { path: source, arch: 'x86_64', repo: appRepo, 'repo-name': 'app', 'gpg-key': signer.secret },
    { RUNNER_TEMP: runnerTemp },
  );
  if (build.code !== 0) throw new Error(`build-package failed:\n${build.log}`);
  appPackages = build.outputs.packages!.split('\n');
  expect(build.outputs.signatures!.split('\n')).toEqual(appPackages.map((file) => `${file}.sig`));
  // The runner hides a masked value everywhere but in the ::add-mask:: command itself.
  const secretLine = signer.secret.split('\n')[3]!;
  const showing = build.log.split('\n').filter((line) => line.includes(secretLine));
  expect(showing.length).toBeGreaterThan(0);
  expect(showing.filter((line) => !line.startsWith('::add-mask::'))).toEqual([]);
}, 300_000);

afterAll(async () => {
  execFileSync('gpgconf', ['--homedir', gnupg, '--kill', 'all']);
  await fs.rm(work, { recursive: true, force: true });
});

function makeChroot(inputs: Record<string, string>) {
  return runBundle(
    'make-chroot',
    { mirror: 'none', arch: 'x86_64', keyring: signer.public, ...inputs },
    { RUNNER_TEMP: runnerTemp },
  );
}

describe('build-package gpg-key', () => {
  test('each package and the repository database carry a signature by the key, checked by gpg', async () => {
    for (const file of appPackages) {
      expect(await verifiedBy(file, signer.public)).toBe(signer.fingerprint);
      expect(await verifiedBy(file, other.public)).toBeUndefined();
    }
    expect(await verifiedBy(path.join(appRepo, 'app.db.tar.gz'), signer.public)).toBe(
      signer.fingerprint,
    );
  });

  test('its GnuPG home and gpg-agent are gone after the run', async () => {
    expect(await signingHomes()).toEqual([]);
    const agents = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('gpg-agent') && line.includes('arch-core-'));
    expect(agents).toEqual([]);
  });

  test('a key with a passphrase, or text that is no private key, is an input error', async () => {
    const protectedHome = path.join(work, 'protected');
    await fs.mkdir(protectedHome, { mode: 0o700 });
    gpg(
      [
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        'pw',
        '--quick-gen-key',
        'p <p@example.org>',
        'ed25519',
        'sign',
        'never',
      ],
      protectedHome,
    );
    const protectedKey = gpg(
      ['--pinentry-mode', 'loopback', '--passphrase', 'pw', '--armor', '--export-secret-keys'],
      protectedHome,
    );
    execFileSync('gpgconf', ['--homedir', protectedHome, '--kill', 'all']);
    const source = await hgRepo(EXAMPLE_APP, path.join(work, 'hello-protected'), 'v1.2');
    for (const [key, expected] of [
      [protectedKey, /gpg-key.*passphrase/],
      [signer.public, /gpg-key.*one armored private key block/],
    ] as const) {
      const result = await runBundle(
        'build-package',
        { path: source, arch: 'x86_64', 'output-dir': path.join(work, 'never'), 'gpg-key': key },
        { RUNNER_TEMP: runnerTemp },
      );
      expect(result.code).toBe(1);
      expect(errorLines(result.log)).toEqual([expect.stringMatching(expected)]);
      expect(await fs.readdir(path.join(work, 'never')).catch(() => [])).toEqual([]);
    }
  });
});

describe('make-chroot keyring', () => {
  test('packages signed by a key of the keyring install, checked by pacman', async () => {
    const root = path.join(work, 'root-signed');
    const result = await makeChroot({
      packages: 'hello',
      repos: `app=${appRepo}\nsystem=${system.repoDir}`,
      root,
    });
    expect(result.code).toBe(0);
    expect(result.log).toContain(`trusted: ${signer.fingerprint}`);
    expect(execFileSync(path.join(root, 'usr/bin/hello'), { encoding: 'utf8' })).toMatch(/hello/i);
    expect(await signingHomes()).toEqual([]);
  });

  test('a package changed after signing is refused, naming it, and nothing is made', async () => {
    const tampered = path.join(work, 'tampered-repo');
    execFileSync('cp', ['-a', appRepo, tampered]);
    const file = path.join(tampered, path.basename(appPackages[0]!));
    const bytes = await fs.readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 100) ^ 0xff, bytes.length - 100);
    await fs.writeFile(file, bytes);
    const root = path.join(work, 'root-tampered');
    const result = await makeChroot({
      packages: 'hello',
      repos: `app=${tampered}\nsystem=${system.repoDir}`,
      root,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      expect.stringMatching(/refused.*hello.*changed after signing/),
    ]);
    expect(await fs.stat(root).catch(() => undefined)).toBeUndefined();
  });

  test('an unsigned package file, and one signed by another key, are refused naming them', async () => {
    const unsigned = path.join(work, 'unsigned');
    await fs.mkdir(unsigned);
    const copy = path.join(unsigned, path.basename(appPackages[0]!));
    await fs.copyFile(appPackages[0]!, copy);
    const unsignedRun = await makeChroot({
      'package-files': copy,
      repos: `system=${system.repoDir}`,
      root: path.join(work, 'root-unsigned'),
    });
    expect(unsignedRun.code).toBe(1);
    expect(errorLines(unsignedRun.log)).toEqual([
      expect.stringMatching(
        new RegExp(`refused.*${path.basename(copy).replace(/\./g, '\\.')} is not signed`),
      ),
    ]);

    signAs(other.fingerprint, copy);
    const foreignRun = await makeChroot({
      'package-files': copy,
      repos: `system=${system.repoDir}`,
      root: path.join(work, 'root-foreign'),
    });
    expect(foreignRun.code).toBe(1);
    expect(errorLines(foreignRun.log)).toEqual([
      expect.stringMatching(/refused.*not in keyring.*installing.*hello/),
    ]);
  });
});
