import { parseDigests, parseVersionTxt, versionedBase } from '../../actions/make-iso/src/image.js';
import { isoCommand } from '../../actions/make-iso/src/iso.js';

describe('version.txt', () => {
  test.each([
    [
      'FLATCAR_BUILD=4152\nFLATCAR_BRANCH=2\nFLATCAR_PATCH=1\nFLATCAR_VERSION=4152.2.1\nFLATCAR_VERSION_ID=4152.2.1\n',
      '4152.2.1',
    ],
    ['FLATCAR_VERSION_ID="3975.2.0"\n', '3975.2.0'],
  ])('reads the version of %j', (text, version) => {
    expect(parseVersionTxt(text)).toBe(version);
  });

  test.each([[''], ['FLATCAR_VERSION=current\n'], ['<html>not found</html>']])(
    'refuses %j',
    (text) => {
      expect(() => parseVersionTxt(text)).toThrow('version.txt has no FLATCAR_VERSION');
    },
  );
});

describe('catalyst DIGESTS', () => {
  const text = [
    '# MD5 HASH',
    'd41d8cd98f00b204e9800998ecf8427e  flatcar_production_vmware_ova.ova',
    '# SHA1 HASH',
    'da39a3ee5e6b4b0d3255bfef95601890afd80709  flatcar_production_vmware_ova.ova',
    '# SHA512 HASH',
    `${'AB'.repeat(64)}  flatcar_production_vmware_ova.ova`,
    `${'cd'.repeat(64)}  flatcar_production_vmware.vmx`,
    '',
  ].join('\n');

  test('each section maps file names to lower-case digests', () => {
    const digests = parseDigests(text);
    expect([...digests.keys()]).toEqual(['MD5', 'SHA1', 'SHA512']);
    expect(digests.get('SHA512')?.get('flatcar_production_vmware_ova.ova')).toBe('ab'.repeat(64));
    expect(digests.get('SHA512')?.get('flatcar_production_vmware.vmx')).toBe('cd'.repeat(64));
    expect(digests.get('MD5')?.get('flatcar_production_vmware_ova.ova')).toBe(
      'd41d8cd98f00b204e9800998ecf8427e',
    );
  });

  test('lines before any section are ignored', () => {
    expect(parseDigests(`${'ef'.repeat(64)}  x.ova\n`).size).toBe(0);
  });
});

test.each([
  [
    'https://stable.release.flatcar-linux.net/amd64-usr/current',
    'https://stable.release.flatcar-linux.net/amd64-usr/4152.2.1',
  ],
  ['http://127.0.0.1:8080/images', 'http://127.0.0.1:8080/images'],
])('versionedBase(%s)', (base, expected) => {
  expect(versionedBase(base, '4152.2.1')).toBe(expected);
});

test.each([
  ['xorriso', ['-as', 'mkisofs', '-o', '/o/m.iso', '-V', 'config-2', '-R', '-J', '/t']],
  [
    'genisoimage',
    ['-quiet', '-o', '/o/m.iso', '-V', 'config-2', '-R', '-J', '-input-charset', 'utf-8', '/t'],
  ],
] as const)('the %s command line', (tool, args) => {
  expect(isoCommand(tool, '/o/m.iso', '/t')).toEqual({ command: tool, args });
});
