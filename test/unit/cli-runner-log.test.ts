import { describe, expect, test } from '@jest/globals';
import { RunnerLog, type Stream } from '../../actions/cli/src/runner-log.js';

/** What a RunnerLog shows for the given chunks, by stream. */
function shown(chunks: Array<[string, Stream?]>, verbose = false): Record<Stream, string> {
  const out: Record<Stream, string> = { stdout: '', stderr: '' };
  const log = new RunnerLog({ verbose, write: (text, stream) => (out[stream] += text) });
  for (const [text, stream = 'stdout'] of chunks) log.push(Buffer.from(text), stream);
  log.flush();
  return out;
}

describe('RunnerLog', () => {
  test('swallows ::add-mask:: and masks the value in every later line, on both streams', () => {
    const out = shown([
      ['::add-mask::hunter22\nlogin with hunter22 as me\n'],
      ['failed: hunter22 refused\n', 'stderr'],
    ]);
    expect(out.stdout).toBe('login with *** as me\n');
    expect(out.stderr).toBe('failed: *** refused\n');
  });

  test('a multi-line secret (escaped as @actions/core sends it) is masked line by line', () => {
    const key = '-----BEGIN KEY-----\nAAAAbbbbCCCC\nddddEEEE\n-----END KEY-----';
    const escaped = key.replace(/%/g, '%25').replace(/\n/g, '%0A');
    const out = shown([[`::add-mask::${escaped}\nline ddddEEEE here\n${key}\n`]]);
    // Lines are shown one by one, so each line of the key is masked on its own.
    expect(out.stdout).toBe('line *** here\n***\n***\n***\n***\n');
    for (const part of key.split('\n')) expect(out.stdout).not.toContain(part);
  });

  test('a secret split across chunks and the longest secret first', () => {
    const out = shown([['::add-mask::abcd\n::add-mask::abcdef\nx abc'], ['def y\n']]);
    expect(out.stdout).toBe('x *** y\n');
  });

  test('groups are headings, endgroup and state commands vanish', () => {
    const out = shown([
      ['::group::Build\nmake\n::endgroup::\n::save-state name=a::1\n::echo::on\n'],
    ]);
    expect(out.stdout).toBe('==> Build\nmake\n');
  });

  test('annotations read as error:/warning:/notice:, their escapes decoded', () => {
    const out = shown([
      ['::error::one%0Atwo 100%25 done%0D\n'],
      ['::warning file=PKGBUILD,line=3,title=depends::libncurses.so.6 %3A needed\n'],
      ['::notice::hi\n'],
    ]);
    expect(out.stdout).toBe(
      'error: one\ntwo 100% done\r\nwarning: PKGBUILD:3: depends: libncurses.so.6 %3A needed\nnotice: hi\n',
    );
  });

  test('a mask applies to annotations too', () => {
    expect(shown([['::add-mask::s3cret\n::error::bad password s3cret\n']]).stdout).toBe(
      'error: bad password ***\n',
    );
  });

  test('::debug:: only when verbose', () => {
    expect(shown([['::debug::detail\nplain\n']]).stdout).toBe('plain\n');
    expect(shown([['::debug::detail\nplain\n']], true).stdout).toBe('debug: detail\nplain\n');
  });

  test('::stop-commands:: shows commands as written until its token', () => {
    const out = shown([['::stop-commands::tok\n::error::literal\n::tok::\n::error::real\n']]);
    expect(out.stdout).toBe('::error::literal\nerror: real\n');
  });

  test('an unterminated last line is shown at the end of the step', () => {
    expect(shown([['::add-mask::pw12\nno newline pw12']]).stdout).toBe('no newline ***\n');
  });
});
