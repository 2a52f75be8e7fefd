import { describe, expect, test } from '@jest/globals';
import { parseImageReference } from '../../actions/core/src/image-ref.js';
import type { Manifest } from '../../actions/core/src/manifest.js';
import {
  imageLabels,
  manifestAnnotations,
  parseAnnotation,
  runnerRepositoryUrl,
  tagOfItem,
} from '../../actions/import-image/src/config.js';

/** What docker/metadata-action's outputs look like, and how import-image takes them. */

describe('tags: bare tags and full references', () => {
  const image = parseImageReference('127.0.0.1:5999/eco/app');
  test.each([
    ['9.9.9', '9.9.9'],
    ['127.0.0.1:5999/eco/app:9.9.9', '9.9.9'],
    ['127.0.0.1:5999/eco/app:latest', 'latest'],
  ])('%s → %s', (item, tag) => expect(tagOfItem(item, image)).toBe(tag));

  test.each([
    ['127.0.0.1:5998/eco/app:1', 'names the repository 127.0.0.1:5998/eco/app'],
    ['127.0.0.1:5999/eco/other:1', 'names the repository 127.0.0.1:5999/eco/other'],
    ['ghcr.io/eco/app:1', 'names the repository ghcr.io/eco/app'],
  ])('%s is another repository: one line naming tags and why', (item, why) => {
    expect(() => tagOfItem(item, image)).toThrow(
      `Input "tags": "${item}" ${why}, not the image input's 127.0.0.1:5999/eco/app; one run pushes to one repository.`,
    );
  });

  test('a reference without a tag, or with a bad one, is refused', () => {
    expect(() => tagOfItem('127.0.0.1:5999/eco/app', image)).toThrow(
      'Input "tags": "127.0.0.1:5999/eco/app" names no tag',
    );
    expect(() => tagOfItem('127.0.0.1:5999/eco/app:-x', image)).toThrow(/^Input "tags": .*-x/);
  });

  test("Docker Hub's short names are its library/ names", () => {
    const hub = parseImageReference('alpine');
    expect(tagOfItem('docker.io/library/alpine:3', hub)).toBe('3');
    expect(tagOfItem('alpine:3', hub)).toBe('3');
  });
});

describe('annotations: build-push-action prefixes', () => {
  test.each([
    ['a.b=c', { levels: ['manifest'], key: 'a.b', value: 'c' }],
    ['manifest:a.b=c', { levels: ['manifest'], key: 'a.b', value: 'c' }],
    ['index:a.b=c', { levels: ['index'], key: 'a.b', value: 'c' }],
    ['manifest-descriptor:a=1', { levels: ['manifest-descriptor'], key: 'a', value: '1' }],
    ['index-descriptor:a=1', { levels: ['index-descriptor'], key: 'a', value: '1' }],
    ['manifest,index:a=1', { levels: ['manifest', 'index'], key: 'a', value: '1' }],
    [
      'manifest[linux/arm64/v8]:a=1',
      { levels: ['manifest'], platform: 'linux/arm64/v8', key: 'a', value: '1' },
    ],
    [
      'manifest:org.opencontainers.image.source=https://x.example/a:b',
      {
        levels: ['manifest'],
        key: 'org.opencontainers.image.source',
        value: 'https://x.example/a:b',
      },
    ],
  ])('%s', (line, annotation) => expect(parseAnnotation(line)).toEqual(annotation));

  test.each(['novalue', 'layer:a=1', 'manifest,blob:a=1', ':a=1', 'manifest[linux]:a=1'])(
    '%s is refused naming the input',
    (line) => expect(() => parseAnnotation(line)).toThrow(/^Input "annotations": /),
  );

  test('manifest lines go on the manifest; index levels and other platforms are ignored, said why', () => {
    const lines = [
      'manifest:org.opencontainers.image.description=app',
      'index:org.opencontainers.image.vendor=eco',
      'manifest,index-descriptor:org.example.both=1',
      'manifest[linux/arm64]:org.example.arm=1',
      'manifest[linux/amd64]:org.example.amd=1',
    ].map(parseAnnotation);
    const result = manifestAnnotations(lines, { os: 'linux', architecture: 'amd64' });
    expect(result.manifest).toEqual({
      'org.opencontainers.image.description': 'app',
      'org.example.both': '1',
      'org.example.amd': '1',
    });
    expect(result.ignored).toEqual([
      'org.opencontainers.image.vendor: index level, and a single-platform push has no image index',
      'org.example.both: index-descriptor level, and a single-platform push has no image index',
      'org.example.arm: for linux/arm64, the image is linux/amd64',
    ]);
  });
});

describe('revision and source labels', () => {
  const manifest: Manifest = {
    schemaVersion: 1,
    arch: 'x86_64',
    app: {
      name: 'hello',
      version: '1-1',
      vcs: 'git',
      hash: '0a1b2c3',
      commit: '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567',
      source: 'git@example.invalid:eco/hello.git',
    },
    packages: [],
    created: '2026-11-25T10:05:00Z',
  };
  test('the full hash; the runner repository over the app remote', () => {
    const labels = imageLabels(manifest, 'now', 'img', [], 'https://github.com/eco/hello');
    expect(labels['org.opencontainers.image.revision']).toBe(manifest.app?.commit);
    expect(labels['org.opencontainers.image.source']).toBe('https://github.com/eco/hello');
  });
  test('off a runner, the app remote; a record without the full hash keeps the short one', () => {
    const older = { ...manifest, app: { ...manifest.app, commit: undefined } } as Manifest;
    const labels = imageLabels(older, 'now', 'img', []);
    expect(labels['org.opencontainers.image.revision']).toBe('0a1b2c3');
    expect(labels['org.opencontainers.image.source']).toBe('git@example.invalid:eco/hello.git');
  });
  test('the user’s labels still win', () => {
    const labels = imageLabels(manifest, 'now', 'img', [['org.opencontainers.image.source', 'u']]);
    expect(labels['org.opencontainers.image.source']).toBe('u');
  });
  test('runnerRepositoryUrl', () => {
    expect(
      runnerRepositoryUrl({ GITHUB_SERVER_URL: 'https://github.com/', GITHUB_REPOSITORY: 'o/r' }),
    ).toBe('https://github.com/o/r');
    expect(runnerRepositoryUrl({ GITHUB_REPOSITORY: 'o/r' })).toBeUndefined();
  });
});
