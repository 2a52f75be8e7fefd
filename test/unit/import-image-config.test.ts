import { describe, expect, test } from '@jest/globals';
import { isLoopbackRegistry, parseImageReference } from '../../actions/core/src/image-ref.js';
import type { Manifest } from '../../actions/core/src/manifest.js';
import {
  MAX_PACKAGE_LABELS,
  checkInsecure,
  checkSource,
  dockerChanges,
  imageLabels,
  parseArgv,
  parsePlatform,
  parsePorts,
  platformForArch,
  resolveEpoch,
  resolveTags,
  versionAsTag,
} from '../../actions/import-image/src/config.js';
import {
  dockerImportArgs,
  importedId,
  pushedDigest,
} from '../../actions/import-image/src/docker.js';
import { registryHostPort } from '../../actions/import-image/src/tunnel.js';

const manifest: Manifest = {
  schemaVersion: 1,
  arch: 'i686',
  app: {
    name: 'hello',
    version: '1.2.r14.0a1b2c3d4e5f-1',
    vcs: 'hg',
    revision: '14',
    hash: '0a1b2c3d4e5f',
    commitTime: '2026-11-25T10:00:00Z',
    source: 'https://example.invalid/hello',
  },
  packages: [
    { name: 'glibc', version: '2.39-1', arch: 'i686', installedSize: 1 },
    { name: 'hello', version: '1.2.r14.0a1b2c3d4e5f-1', arch: 'i686', installedSize: 1 },
  ],
  created: '2026-11-25T10:05:00Z',
};

describe('platform', () => {
  test.each([
    ['i686', 'linux', '386'],
    ['x86_64', 'linux', 'amd64'],
  ])('arch %s → %s/%s', (arch, os, architecture) => {
    expect(platformForArch(arch)).toEqual({ os, architecture });
  });
  test('unknown arch has no default', () => expect(platformForArch('mips')).toBeUndefined());
  test.each([
    ['linux/386', { os: 'linux', architecture: '386' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ])('parsePlatform(%s)', (text, platform) => expect(parsePlatform(text)).toEqual(platform));
  test.each(['linux', 'Linux/386', 'linux/386/v7/x', ''])(
    'parsePlatform(%p) fails naming the input',
    (text) => {
      expect(() => parsePlatform(text)).toThrow(/^Input "platform": /);
    },
  );
});

describe('tags', () => {
  const image = parseImageReference('127.0.0.1:5000/team/hello');
  test.each([
    [[], manifest, ['1.2.r14.0a1b2c3d4e5f-1', 'latest']],
    [[], undefined, ['latest']],
    [['v1', 'v1', 'stable'], manifest, ['v1', 'stable']],
  ])('given %p → %p', (given, m, expected) => {
    expect(resolveTags(given, image, m)).toEqual(expected);
  });
  test('a tag in the image is used when tags is empty', () => {
    expect(resolveTags([], parseImageReference('127.0.0.1:5000/a:edge'), manifest)).toEqual([
      'edge',
    ]);
  });
  test.each(['-bad', '.bad', 'a:b', 'x'.repeat(129), 'sp ace'])(
    'invalid tag %p is refused',
    (tag) => {
      expect(() => resolveTags([tag], image, manifest)).toThrow(/^Input "tags": /);
    },
  );
  test.each([
    ['1:2.0-1', '1_2.0-1'],
    ['2.0+git3-1', '2.0_git3-1'],
    ['1.2.r14.abc-1', '1.2.r14.abc-1'],
  ])('version %s as a tag is %s', (version, tag) => expect(versionAsTag(version)).toBe(tag));
});

describe('epoch', () => {
  test('SOURCE_DATE_EPOCH wins', () => expect(resolveEpoch(5, manifest).epoch).toBe(5));
  test("else the app's commit time", () =>
    expect(resolveEpoch(undefined, manifest)).toEqual({
      epoch: 1795600800,
      from: "the app's commit time",
    }));
  test('else the manifest time, else 0', () => {
    expect(resolveEpoch(undefined, { ...manifest, app: undefined }).epoch).toBe(1795601100);
    expect(resolveEpoch(undefined, undefined).epoch).toBe(0);
  });
});

describe('labels', () => {
  test('OCI labels from the app, one label per package, extra labels win', () => {
    expect(
      imageLabels(manifest, '2026-11-25T10:00:00Z', 'img', [
        ['org.opencontainers.image.title', 'X'],
      ]),
    ).toEqual({
      'org.opencontainers.image.created': '2026-11-25T10:00:00Z',
      'org.opencontainers.image.title': 'X',
      'org.opencontainers.image.version': '1.2.r14.0a1b2c3d4e5f-1',
      'org.opencontainers.image.revision': '0a1b2c3d4e5f',
      'org.opencontainers.image.source': 'https://example.invalid/hello',
      'org.archlinux.arch': 'i686',
      'org.archlinux.package.glibc': '2.39-1',
      'org.archlinux.package.hello': '1.2.r14.0a1b2c3d4e5f-1',
    });
  });
  test('many packages become one JSON label', () => {
    const many = Array.from({ length: MAX_PACKAGE_LABELS + 1 }, (_, i) => ({
      name: `p${String(i).padStart(4, '0')}`,
      version: '1-1',
      arch: 'x86_64',
      installedSize: 1,
    }));
    const labels = imageLabels({ ...manifest, packages: many }, 'now', 'img', []);
    expect(Object.keys(labels).filter((key) => key.startsWith('org.archlinux.package.'))).toEqual(
      [],
    );
    expect(JSON.parse(labels['org.archlinux.packages'] ?? '{}')).toMatchObject({
      p0000: '1-1',
      p0256: '1-1',
    });
  });
  test('without a manifest: only created and title', () => {
    expect(imageLabels(undefined, 'now', 'img', [])).toEqual({
      'org.opencontainers.image.created': 'now',
      'org.opencontainers.image.title': 'img',
    });
  });
});

describe('config inputs', () => {
  test.each([
    [undefined, undefined],
    ['/usr/bin/hello', ['/usr/bin/hello']],
    ['["/usr/bin/hello", "--loud"]', ['/usr/bin/hello', '--loud']],
    ['/usr/bin/hello\n--name\nwith space', ['/usr/bin/hello', '--name', 'with space']],
  ])('parseArgv(%p)', (text, argv) => expect(parseArgv('cmd', text)).toEqual(argv));
  test.each(['[1,2]', '[oops'])('parseArgv(%p) fails', (text) => {
    expect(() => parseArgv('entrypoint', text)).toThrow(/^Input "entrypoint": /);
  });
  test.each([
    ['8080 53/udp', ['8080/tcp', '53/udp']],
    ['80,443/tcp', ['80/tcp', '443/tcp']],
  ])('parsePorts(%p)', (text, ports) => expect(parsePorts(text)).toEqual(ports));
  test.each(['0', '70000', 'http', '80/icmp'])('parsePorts(%p) fails', (text) => {
    expect(() => parsePorts(text)).toThrow(/^Input "exposed-ports": /);
  });
  test.each([
    [undefined, undefined, /give "root" \(a directory\) or "tarball"/],
    ['/r', '/t.tar', /either "root" or "tarball", not both/],
  ])('checkSource(%p, %p) fails', (root, tarball, message) => {
    expect(() => checkSource(root, tarball)).toThrow(message);
  });
});

describe('insecure', () => {
  test.each([
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['localhost:5000', true],
    ['[::1]:5000', true],
    ['10.0.0.1:5000', false],
    ['registry.example.com', false],
  ])('isLoopbackRegistry(%s) = %p', (registry, loopback) => {
    expect(isLoopbackRegistry(registry)).toBe(loopback);
  });
  test.each([
    ['false', '10.0.0.1:5000', false, false],
    ['true', '127.0.0.1:5000', false, true],
    ['true', '10.0.0.1:5000', true, true],
    ['force', '10.0.0.1:5000', false, true],
  ] as const)('checkInsecure(%s, %s, tunneled %p) = %p', (insecure, registry, tunneled, plain) => {
    expect(checkInsecure(insecure, registry, tunneled)).toBe(plain);
  });
  test('true for a non-loopback registry without the tunnel needs force', () => {
    expect(() => checkInsecure('true', 'registry.example.com:5000', false)).toThrow(
      /^Input "insecure": .*use "force"/,
    );
  });
  test.each([
    ['10.0.0.1:5000', false, { host: '10.0.0.1', port: 5000 }],
    ['registry.example.com', false, { host: 'registry.example.com', port: 443 }],
    ['registry.example.com', true, { host: 'registry.example.com', port: 80 }],
    ['[fd00::1]:5000', false, { host: 'fd00::1', port: 5000 }],
  ])('registryHostPort(%s)', (registry, plain, expected) => {
    expect(registryHostPort(registry, plain)).toEqual(expected);
  });
});

describe('docker mode', () => {
  const runtime = {
    labels: { 'b.label': 'two words', 'a.label': 'quote " here' },
    env: ['PATH=/usr/bin', 'GREETING=hi there'],
    entrypoint: ['/usr/bin/hello'],
    cmd: ['--loud'],
    workdir: '/srv',
    user: '1000:1000',
    exposedPorts: ['8080/tcp'],
  };
  test('the --change lines carry the same config', () => {
    expect(dockerChanges(runtime)).toEqual([
      'LABEL "a.label"="quote \\" here"',
      'LABEL "b.label"="two words"',
      'ENV PATH="/usr/bin"',
      'ENV GREETING="hi there"',
      'ENTRYPOINT ["/usr/bin/hello"]',
      'CMD ["--loud"]',
      'WORKDIR /srv',
      'USER 1000:1000',
      'EXPOSE 8080/tcp',
    ]);
  });
  test('docker import argv', () => {
    expect(
      dockerImportArgs(
        { labels: { a: 'b' } },
        { os: 'linux', architecture: '386' },
        '/l.tgz',
        'r/x:1',
      ),
    ).toEqual([
      'import',
      '--change',
      'LABEL "a"="b"',
      '--platform',
      'linux/386',
      '/l.tgz',
      'r/x:1',
    ]);
  });
  test('the id of docker import and the digest of docker push', () => {
    const id = `sha256:${'a'.repeat(64)}`;
    expect(importedId(`${id}: ${id}\n`)).toBe(id);
    expect(pushedDigest(`latest: digest: sha256:${'b'.repeat(64)} size: 528`)).toBe(
      `sha256:${'b'.repeat(64)}`,
    );
  });
});
