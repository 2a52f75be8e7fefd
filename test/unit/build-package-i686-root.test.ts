import { expect, test } from '@jest/globals';
import { parseDeb822Sources, parseSourcesList, pickMirror } from '../helpers/i686-root.js';

// The apt sources the i686 build root's mirror is read from (never a hard-wired host).

const DEB822 = `Types: deb
# a comment
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
`;

test('deb822 sources: deb stanzas only, with their suites', () => {
  expect(parseDeb822Sources(DEB822)).toEqual([
    { uri: 'http://mirror.example.invalid/debian', suites: ['bookworm', 'bookworm-updates'] },
    { uri: 'http://security.example.invalid/debian-security', suites: ['bookworm-security'] },
  ]);
});

test('one-line sources.list, options and comments', () => {
  expect(
    parseSourcesList(
      '# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example.invalid/debian bookworm main\ndeb-src http://b.example.invalid/debian bookworm main\ndeb http://c.example.invalid/debian bookworm-updates main # tail\n',
    ),
  ).toEqual([
    { uri: 'http://a.example.invalid/debian', suites: ['bookworm'] },
    { uri: 'http://c.example.invalid/debian', suites: ['bookworm-updates'] },
  ]);
});

test('the mirror is the one serving the suite itself', () => {
  const sources = [
    ...parseDeb822Sources(DEB822).reverse(),
    { uri: 'http://other.example.invalid/debian', suites: ['bookworm'] },
  ];
  expect(pickMirror(sources, 'bookworm')).toBe('http://mirror.example.invalid/debian');
  expect(pickMirror(sources, 'trixie')).toBeUndefined();
});
