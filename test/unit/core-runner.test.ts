import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseOutputFile } from '../../actions/cli/src/local-runner.js';
import { parseCommand } from '../../actions/cli/src/runner-log.js';
import * as core from '../../actions/core/src/runner.js';

// The runner protocol as actions/core/src/runner.ts speaks it, checked against the documented
// forms and read back by the CLI's own readers of commands and GITHUB_OUTPUT (which stand in for
// the runner's).

const RUNNER_VARIABLES = ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY'];
let work: string;
let written: string[];

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-runner-'));
  for (const variable of RUNNER_VARIABLES) delete process.env[variable];
  written = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  for (const variable of RUNNER_VARIABLES) delete process.env[variable];
  process.exitCode = undefined;
  fs.rmSync(work, { recursive: true, force: true });
});

/** A file the runner would name in GITHUB_<file>, created empty. */
function runnerFile(variable: string): string {
  const file = path.join(work, variable.toLowerCase());
  fs.writeFileSync(file, '');
  process.env[variable] = file;
  return file;
}

describe('escaping', () => {
  test('data escapes %, CR and LF, and nothing else', () => {
    expect(core.escapeData('100% done\r\nnext: a,b')).toBe('100%25 done%0D%0Anext: a,b');
  });

  test('a property value also escapes : and ,', () => {
    expect(core.escapeProperty('C:\\x,y%\n')).toBe('C%3A\\x%2Cy%25%0A');
  });

  test('a message and properties that would break the line read back as they were', () => {
    const message = 'line 1\nline 2 %0A is literal :: and, commas\r';
    const title = 'a: title, with %25';
    const line = core.commandLine('warning', { title, file: 'src/a,b.ts' }, message);
    expect(line).not.toContain('\n');
    expect(parseCommand(line)).toEqual({
      name: 'warning',
      properties: { title, file: 'src/a,b.ts' },
      data: message,
    });
  });
});

describe('log commands', () => {
  test('annotations carry their properties under the runner names, absent ones left out', () => {
    core.error('bad value', {
      title: 'PKGBUILD',
      file: 'pkg/PKGBUILD',
      startLine: 3,
      startColumn: 7,
    });
    core.warning('careful', { endLine: 9 });
    core.notice('fyi');
    expect(written).toEqual([
      '::error title=PKGBUILD,file=pkg/PKGBUILD,line=3,col=7::bad value\n',
      '::warning endLine=9::careful\n',
      '::notice::fyi\n',
    ]);
  });

  test('an Error is logged by its name and message', () => {
    core.warning(new TypeError('no such thing'));
    expect(written).toEqual(['::warning::TypeError: no such thing\n']);
  });

  test('info is the line as given, not escaped; debug is a command', () => {
    core.info('100% done');
    core.debug('detail\nmore');
    expect(written).toEqual(['100% done\n', '::debug::detail%0Amore\n']);
  });

  test('setSecret masks the value, escaped like any data', () => {
    core.setSecret('s3cr%t\nline two');
    expect(written).toEqual(['::add-mask::s3cr%25t%0Aline two\n']);
    expect(parseCommand(written[0]!.trimEnd())?.data).toBe('s3cr%t\nline two');
  });

  test('group ends its group when the function throws, and gives its value otherwise', async () => {
    await expect(core.group('first', async () => 42)).resolves.toBe(42);
    await expect(
      core.group('second', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(written).toEqual([
      '::group::first\n',
      '::endgroup::\n',
      '::group::second\n',
      '::endgroup::\n',
    ]);
  });

  test('setFailed logs an error and sets the exit code, without exiting', () => {
    core.setFailed('it broke');
    expect(written).toEqual(['::error::it broke\n']);
    expect(process.exitCode).toBe(1);
  });
});

describe('outputs and state', () => {
  test('setOutput appends a heredoc entry with a fresh random delimiter to GITHUB_OUTPUT', () => {
    const file = runnerFile('GITHUB_OUTPUT');
    core.setOutput('digest', 'sha256:abc');
    core.setOutput('notes', 'two\nlines');
    const text = fs.readFileSync(file, 'utf8');
    const delimiters = [...text.matchAll(/^[a-z]+<<(.+)$/gm)].map((match) => match[1]);
    expect(delimiters).toHaveLength(2);
    expect(delimiters[0]).toMatch(/^ghadelimiter_[0-9a-f-]{36}$/);
    expect(delimiters[1]).not.toBe(delimiters[0]);
    expect(text).toBe(
      `digest<<${delimiters[0]}\nsha256:abc\n${delimiters[0]}\n` +
        `notes<<${delimiters[1]}\ntwo\nlines\n${delimiters[1]}\n`,
    );
    expect(parseOutputFile(text)).toEqual({ digest: 'sha256:abc', notes: 'two\nlines' });
    expect(written).toEqual([]);
  });

  test('a value that holds its delimiter is refused rather than written', () => {
    const delimiter = 'ghadelimiter_fixed';
    expect(core.fileCommandEntry('name', 'x', delimiter)).toBe(
      `name<<${delimiter}\nx\n${delimiter}\n`,
    );
    expect(() => core.fileCommandEntry('name', `x\n${delimiter}\nevil<<EOF`, delimiter)).toThrow(
      /contains its delimiter/,
    );
  });

  test('a value that is not a string is written as JSON', () => {
    const file = runnerFile('GITHUB_OUTPUT');
    core.setOutput('audit', { passed: true });
    core.setOutput('count', 3);
    expect(parseOutputFile(fs.readFileSync(file, 'utf8'))).toEqual({
      audit: '{"passed":true}',
      count: '3',
    });
  });

  test('saveState goes to GITHUB_STATE, and getState reads STATE_<name>', () => {
    const file = runnerFile('GITHUB_STATE');
    core.saveState('isPost', 'true');
    expect(parseOutputFile(fs.readFileSync(file, 'utf8'))).toEqual({ isPost: 'true' });
    process.env.STATE_arch_core_unit = '{"a":1}';
    expect(core.getState('arch_core_unit')).toBe('{"a":1}');
    delete process.env.STATE_arch_core_unit;
    expect(core.getState('arch_core_unit')).toBe('');
  });

  test('without the files (a run outside a runner) they are stdout commands', () => {
    core.setOutput('path', 'a:b\nc');
    core.saveState('held', '{"x":1}');
    expect(written).toEqual([
      '\n',
      '::set-output name=path::a:b%0Ac\n',
      '::save-state name=held::{"x":1}\n',
    ]);
  });

  test('a GITHUB_OUTPUT that names a missing file fails', () => {
    process.env.GITHUB_OUTPUT = path.join(work, 'absent');
    expect(() => core.setOutput('x', 'y')).toThrow(
      /GITHUB_OUTPUT names .*absent, which is missing/,
    );
  });
});

describe('job summary', () => {
  test('headings and tables are appended to GITHUB_STEP_SUMMARY, once each', async () => {
    const file = runnerFile('GITHUB_STEP_SUMMARY');
    fs.writeFileSync(file, 'earlier step\n');
    await core.summary
      .addHeading('make-chroot', 3)
      .addTable([[{ data: 'root', header: true }, '/tmp/root']])
      .write();
    await core.summary.addHeading('bad level', 9).write();
    expect(fs.readFileSync(file, 'utf8')).toBe(
      'earlier step\n<h3>make-chroot</h3>\n<table><tr><th>root</th><td>/tmp/root</td></tr></table>\n' +
        '<h1>bad level</h1>\n',
    );
  });

  test('without GITHUB_STEP_SUMMARY writing fails and says why', async () => {
    await expect(core.summary.addHeading('x').write()).rejects.toThrow(
      'GITHUB_STEP_SUMMARY is not set',
    );
  });
});
