import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parse } from 'yaml';
import { uploadArtifactDeprecation } from '../../actions/build-package/src/artifact.js';
import { mountPointsUnder } from '../../actions/build-package/src/buildroot.js';
import { parseInputs } from '../../actions/build-package/src/inputs.js';
import { findInPasswd } from '../../actions/build-package/src/user.js';
import { pkgverOf } from '../../actions/build-package/src/main.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { projectRoot } from '../helpers/bundle.js';

function parsing(given: Record<string, string>): () => unknown {
  return () => parseInputs(actionInputs('build-package', given));
}

describe('input checks', () => {
  test.each(['builder', 'build_user', '_b1'])('build-user %s is fine', (name) => {
    expect(parsing({ 'build-user': name })).not.toThrow();
  });
  test.each([
    ['root', /^Input "build-user": makepkg refuses to run as root/],
    ['Bad User', /^Input "build-user": "Bad User" is not a user name/],
    ['-x', /is not a user name/],
  ])('build-user %s is refused', (name, message) => {
    expect(parsing({ 'build-user': name })).toThrow(message);
  });
  test.each(['--config=/x', '-p x', '--printsrcinfo'])('makepkg-args %s is refused', (arg) => {
    expect(parsing({ 'makepkg-args': arg })).toThrow(/^Input "makepkg-args": ".*" cannot be given/);
  });

  test('action.yml documents every input, with these defaults', async () => {
    const metadata = parse(
      await fs.readFile(path.join(projectRoot, 'actions/build-package/action.yml'), 'utf8'),
    ) as {
      inputs: Record<string, { default: string; description: string }>;
      runs: { using: string };
    };
    const defaults = {
      path: '.',
      vcs: 'auto',
      arch: 'auto',
      pkgext: '.pkg.tar.xz',
      'build-user': 'builder',
      'repo-name': 'arch-core',
    };
    for (const [name, value] of Object.entries(defaults)) {
      expect(metadata.inputs[name]?.default).toBe(value);
    }
    for (const spec of Object.values(metadata.inputs)) expect(spec.description).toBeTruthy();
    expect(metadata.runs.using).toBe('node24');
  });
});

test('findInPasswd', () => {
  const passwd =
    'root:x:0:0:root:/root:/bin/bash\nbuilder:x:998:997::/nonexistent:/usr/sbin/nologin\n';
  expect(findInPasswd(passwd, 'builder')).toEqual({ name: 'builder', uid: 998, gid: 997 });
  expect(findInPasswd(passwd, 'nobody')).toBeUndefined();
});

test('mount points under a root, deepest first, octal escapes decoded', () => {
  const mountinfo = [
    '22 1 0:21 / /proc rw - proc proc rw',
    '90 1 0:5 / /r/dev rw - devtmpfs udev rw',
    '91 90 0:6 / /r/dev/pts rw - devpts devpts rw',
    '92 1 0:21 / /r/proc rw - proc proc rw',
    '93 1 0:21 / /r2/proc rw - proc proc rw',
    '94 1 0:21 / /r/with\\040space rw - proc proc rw',
  ].join('\n');
  expect(mountPointsUnder(mountinfo, '/r')).toEqual([
    '/r/with space',
    '/r/dev/pts',
    '/r/proc',
    '/r/dev',
  ]);
});

test.each([
  ['1.2.r1.abc-1', '1.2.r1.abc'],
  ['2:1.0-3', '1.0'],
])('pkgverOf(%s) = %s', (version, pkgver) => {
  expect(pkgverOf(version)).toBe(pkgver);
});

test("the sample PKGBUILD is the example app's", async () => {
  const [sample, example] = await Promise.all([
    fs.readFile(path.join(projectRoot, 'workflows-examples/samples/PKGBUILD'), 'utf8'),
    fs.readFile(path.join(projectRoot, 'examples/hello/PKGBUILD'), 'utf8'),
  ]);
  expect(sample).toBe(example);
  expect(example).toMatch(/^pkgver\(\) \{$/m);
  expect(example).toContain("hg log -r . --template 'r{rev}.{node|short}'");
});

test('upload-artifact is ignored, with the actions/upload-artifact step to use instead', () => {
  expect(
    parseInputs(actionInputs('build-package', { path: '.', 'upload-artifact': 'a/b' })),
  ).toMatchObject({ uploadArtifact: 'a/b' });
  const warning = uploadArtifactDeprecation('pkgs', 'build');
  expect(warning.split('\n')).toEqual([
    'upload-artifact is deprecated and ignored: "pkgs" was not uploaded. Upload the packages with a step after this one:',
    '  - uses: actions/upload-artifact@v4',
    '    with:',
    '      name: pkgs',
    '      path: |',
    '        ${{ steps.build.outputs.packages }}',
    '        ${{ steps.build.outputs.srcinfo }}',
  ]);
  // A step without an id: (GITHUB_ACTION is then "__owner_name") must be given one.
  expect(uploadArtifactDeprecation('pkgs', '__arch-core_build-package')).toContain(
    'steps.<id of this step>.outputs.packages',
  );
});
