import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { InputError } from '../../actions/core/src/errors.js';
import { STRIP_NO_EXTRACT } from '../../actions/make-chroot/src/pacman.js';
import {
  INPUT_REPO_NAME,
  installArgs,
  installTargets,
  mirrorPattern,
  noExtractFor,
  parseInputs,
  parseRepos,
  repositories,
  type Inputs,
} from '../../actions/make-chroot/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { projectRoot } from '../helpers/bundle.js';

const actionYml = parse(
  fs.readFileSync(path.join(projectRoot, 'actions/make-chroot/action.yml'), 'utf8'),
) as { inputs: Record<string, { default?: string }> };

const MIRRORS = {
  i686: 'https://mirror.archlinux32.org/$arch/$repo',
  x86_64: 'https://geo.mirror.pkgbuild.com/$repo/os/$arch',
};

function inputs(overrides: Partial<Inputs> = {}): Inputs {
  const base = parseInputs(actionInputs('make-chroot', { packages: 'hello' }));
  return { ...base, ...overrides };
}

describe('action.yml defaults', () => {
  test.each([
    ['mirror', 'auto'],
    ['mirror-i686', MIRRORS.i686],
    ['mirror-x86-64', MIRRORS.x86_64],
    ['arch', 'i686'],
    ['preset', 'minimal'],
    ['strip', 'true'],
    ['keep-package-db', 'true'],
    ['signature-level', 'Required DatabaseOptional'],
    ['gpg-dir', '/etc/pacman.d/gnupg'],
    ['allow-scriptlet-failures', 'false'],
    ['root', ''],
    ['tarball', ''],
  ])('%s defaults to %s', (name, value) => {
    expect(actionYml.inputs[name]?.default).toBe(value);
  });
  test('mirror-repos', () => {
    expect(actionYml.inputs['mirror-repos']?.default?.trim().split('\n')).toEqual([
      'core',
      'extra',
    ]);
  });
  test('parseInputs with only packages gives those defaults', () => {
    const parsed = inputs();
    expect(parsed).toMatchObject({
      packages: ['hello'],
      arch: 'i686',
      preset: 'minimal',
      strip: true,
      keepPackageDb: true,
      mirror: 'auto',
      signatureLevel: 'Required DatabaseOptional',
      allowScriptletFailures: false,
    });
    expect(parsed.root).toBeUndefined();
    expect(parsed.tarball).toBeUndefined();
  });
});

describe('mirror patterns by arch', () => {
  test.each([
    ['i686', 'auto', 'https://mirror.archlinux32.org/$arch/$repo'],
    ['x86_64', 'auto', 'https://geo.mirror.pkgbuild.com/$repo/os/$arch'],
    ['x86_64', 'none', undefined],
    ['i686', 'https://m.example/$arch/$repo', 'https://m.example/$arch/$repo'],
  ] as const)('%s with mirror %s', (arch, mirror, expected) => {
    expect(mirrorPattern({ ...inputs(), arch, mirror })).toBe(expected);
  });

  test('repositories: package files, then repos, then the mirror repositories', () => {
    const parsed = inputs({
      arch: 'i686',
      repos: parseRepos(['mine=/srv/repo', 'remote=https://r.example/x'], 'Required'),
    });
    expect(repositories(parsed, '/tmp/in')).toEqual([
      { name: INPUT_REPO_NAME, servers: ['file:///tmp/in'], sigLevel: 'Never' },
      { name: 'mine', servers: ['file:///srv/repo'], sigLevel: 'Never' },
      { name: 'remote', servers: ['https://r.example/x'], sigLevel: 'Required' },
      { name: 'core', servers: [MIRRORS.i686], sigLevel: 'Required DatabaseOptional' },
      { name: 'extra', servers: [MIRRORS.i686], sigLevel: 'Required DatabaseOptional' },
    ]);
  });

  test('mirror none: only the given repositories', () => {
    const parsed = inputs({ mirror: 'none', repos: parseRepos(['mine=/srv/repo'], 'Never') });
    expect(repositories(parsed, undefined).map((repo) => repo.name)).toEqual(['mine']);
  });

  test('a repos name that is also a mirror repository is refused', () => {
    const parsed = inputs({ repos: parseRepos(['core=/srv/repo'], 'Never') });
    expect(() => repositories(parsed, undefined)).toThrow(/"core" is also a mirror repository/);
  });
});

describe('install targets and pacman arguments', () => {
  test.each([
    [{ preset: 'minimal', packages: ['hello'] }, [], ['-Sy', '--needed', 'hello']],
    [{ preset: 'base', packages: ['hello'] }, [], ['-Sy', '--needed', 'base', 'hello']],
    [{ preset: 'base', packages: [] }, [], ['-Sy', '--needed', 'base']],
    [
      { preset: 'minimal', packages: ['hello', 'extra/tool'] },
      ['hello'],
      ['-Sy', '--needed', 'extra/tool', `${INPUT_REPO_NAME}/hello`],
    ],
  ] as const)('%j with package files %j', (given, fileNames, expected) => {
    expect(
      installArgs(installTargets({ ...given, packages: [...given.packages] }, fileNames)),
    ).toEqual(expected);
  });
  test('minimal never asks for base', () => {
    expect(installTargets({ preset: 'minimal', packages: ['a', 'b'] }, ['c'])).not.toContain(
      'base',
    );
  });
  test('strip uses the NoExtract list, no strip none', () => {
    expect(noExtractFor(true)).toBe(STRIP_NO_EXTRACT);
    expect(noExtractFor(false)).toEqual([]);
  });
});

describe('bad inputs name the input', () => {
  test.each([
    [{ packages: 'hello', arch: 'arm' }, /^Input "arch": "arm" is not one of i686, x86_64\.$/],
    [
      { packages: 'hello', preset: 'huge' },
      /^Input "preset": "huge" is not one of minimal, base\.$/,
    ],
    [{ packages: '' }, /^Input "packages": is required/],
    [{ packages: 'Hello World' }, /^Input "packages": "Hello World" is not a package name/],
    [
      { packages: 'hello', repos: 'justaname' },
      /^Input "repos": "justaname" is not of the form name=location/,
    ],
    [
      { packages: 'hello', repos: 'local=/srv/repo' },
      /^Input "repos": .*"local" is reserved by pacman/,
    ],
    [
      { packages: 'hello', repos: `${INPUT_REPO_NAME}=/srv` },
      /^Input "repos": .*reserved for package-files/,
    ],
    [
      { packages: 'hello', repos: 'a=/x\na=/y' },
      /^Input "repos": the repository "a" is given twice/,
    ],
    [{ packages: 'hello', repos: 'bad name=/x' }, /^Input "repos": .*is not a repository name/],
    [
      { packages: 'hello', mirror: 'ftp is good' },
      /^Input "mirror": .*is not a server URL pattern/,
    ],
    [{ packages: 'hello', strip: 'maybe' }, /^Input "strip": "maybe" is not a boolean/],
    [
      { packages: 'hello', 'signature-level': 'Sometimes' },
      /^Input "signature-level": "Sometimes"/,
    ],
  ])('%j', (values, message) => {
    let thrown: unknown;
    try {
      parseInputs(actionInputs('make-chroot', values));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('\n');
  });
});
