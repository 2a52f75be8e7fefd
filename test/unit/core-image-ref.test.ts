import { describe, expect, test } from '@jest/globals';
import {
  formatImageReference,
  imageBaseName,
  parseImageReference,
} from '../../actions/core/src/image-ref.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  test.each([
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000', 'team/app', undefined, undefined],
    ['localhost/app:1.0.r3.abc-1', 'localhost', 'app', '1.0.r3.abc-1', undefined],
    [`registry.example.com/app@${digest}`, 'registry.example.com', 'app', undefined, digest],
    [`reg.example.com:443/a/b:v1@${digest}`, 'reg.example.com:443', 'a/b', 'v1', digest],
    ['library/app', 'docker.io', 'library/app', undefined, undefined],
    ['[::1]:5000/app', '[::1]:5000', 'app', undefined, undefined],
  ])('%s', (text, registry, repository, tag, parsedDigest) => {
    const reference = parseImageReference(text);
    expect(reference).toEqual({ registry, repository, tag, digest: parsedDigest });
    expect(imageBaseName(reference)).toBe(repository.split('/').pop());
  });

  test('format round-trips', () => {
    expect(formatImageReference(parseImageReference(`r.io:5000/x/y:t@${digest}`))).toBe(
      `r.io:5000/x/y:t@${digest}`,
    );
  });

  test.each([
    ['127.0.0.1:5000/Team/app', 'repository "Team/app" is not valid'],
    ['reg.io/app:-bad', 'tag "-bad" is not valid'],
    ['reg.io/app@sha256:123', 'is not a digest'],
    ['reg.io/app//x', 'is not valid'],
    ['', 'repository "" is not valid'],
    ['reg.io/app:' + 'x'.repeat(129), 'is not valid'],
  ])('%s is refused', (text, problem) => {
    expect(() => parseImageReference(text, 'Input "image"')).toThrow(problem);
  });
});
