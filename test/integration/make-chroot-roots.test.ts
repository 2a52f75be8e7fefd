import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseManifest } from '../../actions/core/src/manifest.js';
import { buildFixtureRepo, type FixtureArch, type FixtureRepo } from '../helpers/arch-packages.js';
import { runBundle } from '../helpers/bundle.js';

// make-chroot's bundle, driven as the runner drives it, against local repositories of packages
// built in this file with the real makepkg, installed with the real pacman.
jest.setTimeout(240_000);

const ARCHES: FixtureArch[] = ['x86_64', 'i686'];
let work: string;
let runnerTemp: string;
const repos = {} as Record<FixtureArch, FixtureRepo>;

function greeting(arch: string): string {
  return `Hello from the ${arch} root`;
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'make-chroot-roots-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  for (const arch of ARCHES) {
    repos[arch] = await buildFixtureRepo({
      dir: path.join(work, `repo-${arch}`),
      arch,
      repoName: 'fixtures',
      packages: [
        {
          name: 'hello',
          version: '1.2',
          depends: ['libgreet'],
          program: { prints: greeting(arch) },
          files: {
            'usr/share/man/man1/hello.1': '.TH HELLO 1\n',
            'usr/share/doc/hello/README': 'read me\n',
            'usr/share/locale/de/LC_MESSAGES/hello.mo': 'Hallo\n',
            'usr/share/locale/en_GB/LC_MESSAGES/hello.mo': 'Hello\n',
          },
        },
        {
          name: 'libgreet',
          version: '0.3',
          release: '2',
          depends: ['greetdata'],
          files: { 'usr/lib/libgreet.txt': 'lib\n' },
        },
        { name: 'greetdata', files: { 'usr/share/greet/words': 'hi\n' } },
        { name: 'unrelated', files: { 'usr/share/unrelated/data': 'not wanted\n' } },
        // A stand-in for Arch's `base` meta-package, so "never base" is tested against a repository
        // that has one.
        { name: 'base', depends: ['filesystem'], files: { 'etc/base-release': 'base\n' } },
        { name: 'filesystem', files: { 'etc/fstab': '# fstab\n' } },
      ],
    });
  }
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function makeRoot(
  arch: FixtureArch,
  extra: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
) {
  const result = await runBundle(
    'make-chroot',
    { packages: 'hello', repos: `fixtures=${repos[arch].repoDir}`, mirror: 'none', arch, ...extra },
    { RUNNER_TEMP: runnerTemp, ...env },
  );
  if (result.code !== 0) throw new Error(`make-chroot failed:\n${result.log}`);
  return result;
}

function pacmanQuery(root: string): string[] {
  return execFileSync('pacman', ['-r', root, '-Q'], { encoding: 'utf8' }).trim().split('\n');
}

describe.each(ARCHES)('%s root from a local repository', (arch) => {
  let root: string;
  let outputs: Record<string, string>;
  let summary: string;

  beforeAll(async () => {
    root = path.join(work, `root-${arch}`);
    ({ outputs, summary } = await makeRoot(arch, { root }));
  });

  test('holds exactly the dependency closure: no unrelated package, no base', () => {
    expect(pacmanQuery(root)).toEqual(['greetdata 1.0-1', 'hello 1.2-1', 'libgreet 0.3-2']);
    expect(outputs.packages).toBe('greetdata 1.0-1\nhello 1.2-1\nlibgreet 0.3-2');
    expect(outputs['package-count']).toBe('3');
    expect(outputs.root).toBe(root);
  });

  test('the manifest is in the root, is the output, and equals pacman -r ROOT -Q', async () => {
    expect(outputs.manifest).toBe(path.join(root, 'usr/share/arch-core/manifest.json'));
    const manifest = parseManifest(await fs.readFile(outputs.manifest!, 'utf8'), 'manifest');
    expect(manifest.arch).toBe(arch);
    expect(manifest.packages.map((entry) => `${entry.name} ${entry.version}`)).toEqual(
      pacmanQuery(root),
    );
    for (const entry of manifest.packages) {
      expect(entry.arch).toBe(arch);
      const info = execFileSync('pacman', ['-r', root, '-Qi', entry.name], { encoding: 'utf8' });
      expect(info).toMatch(new RegExp(`Architecture\\s*: ${arch}\\n`));
      expect(entry.installedSize).toBeGreaterThan(0);
    }
    const hello = manifest.packages.find((entry) => entry.name === 'hello')!;
    // The static program dominates hello's installed size.
    const program = await fs.stat(path.join(root, 'usr/bin/hello'));
    expect(hello.installedSize).toBeGreaterThanOrEqual(program.size);
    expect(manifest.app).toBeUndefined();
  });

  test("the manifest names each package's file and its sha256, as sha256sum gives it", async () => {
    const manifest = parseManifest(await fs.readFile(outputs.manifest!, 'utf8'), 'manifest');
    const files = Object.values(repos[arch].packageFiles);
    const sums = execFileSync('sha256sum', files, { encoding: 'utf8' }).trim().split('\n');
    const byFile = new Map(
      sums.map((line) => {
        const [sum, file] = line.split(/\s+\*?/);
        return [path.basename(file!), sum!];
      }),
    );
    expect(manifest.packages).toHaveLength(3);
    for (const entry of manifest.packages) {
      expect(entry.file).toMatch(
        new RegExp(`^${entry.name}-${entry.version}-${entry.arch}\\.pkg\\.tar\\.`),
      );
      expect(entry.sha256).toBe(byFile.get(entry.file!));
    }
  });

  test('the app runs from the root', () => {
    expect(execFileSync('chroot', [root, '/usr/bin/hello'], { encoding: 'utf8' })).toBe(
      `${greeting(arch)}\n`,
    );
    const kind = execFileSync('file', ['-b', path.join(root, 'usr/bin/hello')], {
      encoding: 'utf8',
    });
    expect(kind).toContain(arch === 'i686' ? 'ELF 32-bit' : 'ELF 64-bit');
  });

  test('strip (default): no man page, docs or German locale; English kept', async () => {
    await expect(fs.access(path.join(root, 'usr/share/man/man1/hello.1'))).rejects.toThrow();
    await expect(fs.access(path.join(root, 'usr/share/doc/hello/README'))).rejects.toThrow();
    await expect(
      fs.access(path.join(root, 'usr/share/locale/de/LC_MESSAGES/hello.mo')),
    ).rejects.toThrow();
    await expect(
      fs.readFile(path.join(root, 'usr/share/locale/en_GB/LC_MESSAGES/hello.mo'), 'utf8'),
    ).resolves.toBe('Hello\n');
  });

  test('no sync database, package cache or log stays in the root; the package db does', async () => {
    await expect(fs.access(path.join(root, 'var/lib/pacman/sync'))).rejects.toThrow();
    await expect(fs.access(path.join(root, 'var/cache/pacman'))).rejects.toThrow();
    await expect(fs.access(path.join(root, 'var/log/pacman.log'))).rejects.toThrow();
    const local = await fs.readdir(path.join(root, 'var/lib/pacman/local'));
    expect(local.sort()).toEqual([
      'ALPM_DB_VERSION',
      'greetdata-1.0-1',
      'hello-1.2-1',
      'libgreet-0.3-2',
    ]);
    const parent = await fs.readdir(path.dirname(root));
    expect(parent.filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  test('size output and the job summary: package table, total, largest', async () => {
    const size = Number(outputs['size-bytes']);
    const manifestSize = (await fs.stat(outputs.manifest!)).size;
    expect(size).toBeGreaterThan(manifestSize);
    expect(summary).toContain('Largest packages');
    expect(summary).toContain('<td>hello</td><td>1.2-1</td>');
    expect(summary).toContain(`${size} bytes`);
  });
});

describe('x86_64 options', () => {
  test('preset base: the base packages and the app closure', async () => {
    const root = path.join(work, 'root-base');
    const { outputs } = await makeRoot('x86_64', { root, preset: 'base' });
    expect(pacmanQuery(root)).toEqual([
      'base 1.0-1',
      'filesystem 1.0-1',
      'greetdata 1.0-1',
      'hello 1.2-1',
      'libgreet 0.3-2',
    ]);
    expect(outputs['package-count']).toBe('5');
    await expect(fs.readFile(path.join(root, 'etc/base-release'), 'utf8')).resolves.toBe('base\n');
  });

  test('strip: false keeps the man page and the German locale', async () => {
    const root = path.join(work, 'root-nostrip');
    await makeRoot('x86_64', { root, strip: 'false' });
    await expect(fs.readFile(path.join(root, 'usr/share/man/man1/hello.1'), 'utf8')).resolves.toBe(
      '.TH HELLO 1\n',
    );
    await expect(
      fs.readFile(path.join(root, 'usr/share/locale/de/LC_MESSAGES/hello.mo'), 'utf8'),
    ).resolves.toBe('Hallo\n');
  });

  test('the tarball is byte-identical across two runs with the same SOURCE_DATE_EPOCH', async () => {
    const env = { SOURCE_DATE_EPOCH: '1764064800' };
    const first = await makeRoot(
      'x86_64',
      { root: path.join(work, 'tar-1'), tarball: path.join(work, 'one.tar') },
      env,
    );
    // A second later, so the wall clock differs between the runs.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await makeRoot(
      'x86_64',
      { root: path.join(work, 'tar-2'), tarball: path.join(work, 'two.tar') },
      env,
    );
    const [one, two] = await Promise.all([
      fs.readFile(path.join(work, 'one.tar')),
      fs.readFile(path.join(work, 'two.tar')),
    ]);
    expect(one.length).toBeGreaterThan(10_000);
    expect(one.equals(two)).toBe(true);
    expect(first.outputs['tarball-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(first.outputs['tarball-sha256']).toBe(second.outputs['tarball-sha256']);
    expect(first.outputs.tarball).toBe(path.join(work, 'one.tar'));
    // The tar holds the root, with numeric owners and the clamped time.
    const listing = execFileSync('tar', ['-tvf', path.join(work, 'one.tar'), '--numeric-owner'], {
      encoding: 'utf8',
    });
    expect(listing).toMatch(/ 0\/0 .* usr\/bin\/hello\n/);
    expect(listing).toContain('usr/share/arch-core/manifest.json');
    expect(listing).not.toContain('var/lib/pacman/sync');
    const manifest = parseManifest(await fs.readFile(first.outputs.manifest!, 'utf8'), 'manifest');
    expect(manifest.created).toBe('2025-11-25T10:00:00Z');
  });

  test('default root is a new directory under RUNNER_TEMP; keep-package-db: false drops the db', async () => {
    const { outputs } = await makeRoot('x86_64', { 'keep-package-db': 'false' });
    expect(path.dirname(outputs.root!)).toBe(runnerTemp);
    await expect(fs.access(path.join(outputs.root!, 'var/lib/pacman'))).rejects.toThrow();
    const manifest = parseManifest(await fs.readFile(outputs.manifest!, 'utf8'), 'manifest');
    expect(manifest.packages.map((entry) => entry.name)).toEqual([
      'greetdata',
      'hello',
      'libgreet',
    ]);
    expect(execFileSync('chroot', [outputs.root!, '/usr/bin/hello'], { encoding: 'utf8' })).toBe(
      `${greeting('x86_64')}\n`,
    );
  });

  test('an empty existing root is used', async () => {
    const root = path.join(work, 'empty-root');
    await fs.mkdir(root);
    await makeRoot('x86_64', { root });
    expect(pacmanQuery(root)).toHaveLength(3);
  });
});
