import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkOutputPath,
  directorySize,
  produceAtomically,
  removeLeftoverTemporaries,
  replaceFileSet,
  temporarySibling,
} from '../../actions/core/src/files.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'core-files-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('produceAtomically replaces an existing directory whole, leaving no temporary', async () => {
  const target = path.join(dir, 'layout');
  await fs.mkdir(target);
  await fs.writeFile(path.join(target, 'old'), 'old');
  await produceAtomically(target, async (temporary) => {
    await fs.mkdir(temporary);
    await fs.writeFile(path.join(temporary, 'new'), 'new');
  });
  expect(await fs.readdir(target)).toEqual(['new']);
  expect(await fs.readdir(dir)).toEqual(['layout']);
});

test('produceAtomically leaves the target untouched when producing fails', async () => {
  const target = path.join(dir, 'file');
  await fs.writeFile(target, 'kept');
  await expect(
    produceAtomically(target, async (temporary) => {
      await fs.writeFile(temporary, 'half');
      throw new Error('killed');
    }),
  ).rejects.toThrow('killed');
  expect(await fs.readFile(target, 'utf8')).toBe('kept');
  expect(await fs.readdir(dir)).toEqual(['file']);
});

test('replaceFileSet places the set and a checksum file that sha256sum accepts', async () => {
  const out = path.join(dir, 'out');
  await fs.mkdir(out);
  await fs.writeFile(path.join(out, 'b.iso'), 'earlier');
  await fs.writeFile(path.join(out, 'unrelated'), 'mine');
  const placed = await replaceFileSet(out, 'checksums', async (staging) => {
    await fs.writeFile(path.join(staging, 'a.yml'), 'a');
    return { files: ['a.yml'], obsolete: ['b.iso'] };
  });
  expect(placed).toEqual({ 'a.yml': path.join(out, 'a.yml') });
  expect((await fs.readdir(out)).sort()).toEqual(['a.yml', 'checksums', 'unrelated']);
  expect(execFileSync('sha256sum', ['-c', 'checksums'], { cwd: out, encoding: 'utf8' })).toBe(
    'a.yml: OK\n',
  );
  expect(await fs.readdir(dir)).toEqual(['out']);
});

test('replaceFileSet that fails midway leaves the earlier set and its checksum file', async () => {
  const out = path.join(dir, 'out');
  await replaceFileSet(out, 'checksums', async (staging) => {
    await fs.writeFile(path.join(staging, 'a.yml'), 'first');
    return { files: ['a.yml'] };
  });
  await expect(
    replaceFileSet(out, 'checksums', async (staging) => {
      await fs.writeFile(path.join(staging, 'a.yml'), 'second');
      throw new Error('xorriso failed');
    }),
  ).rejects.toThrow('xorriso failed');
  expect(await fs.readFile(path.join(out, 'a.yml'), 'utf8')).toBe('first');
  expect(execFileSync('sha256sum', ['-c', 'checksums'], { cwd: out, encoding: 'utf8' })).toBe(
    'a.yml: OK\n',
  );
  expect(await fs.readdir(dir)).toEqual(['out']);
});

test('directorySize counts regular files once per inode, not links or directories', async () => {
  await fs.mkdir(path.join(dir, 'a/b'), { recursive: true });
  await fs.writeFile(path.join(dir, 'a/one'), Buffer.alloc(1000));
  await fs.writeFile(path.join(dir, 'a/b/two'), Buffer.alloc(234));
  await fs.link(path.join(dir, 'a/one'), path.join(dir, 'a/b/hard-link'));
  await fs.symlink('one', path.join(dir, 'a/symlink'));
  const du = execFileSync('du', ['--bytes', '--summarize', '--apparent-size', dir], {
    encoding: 'utf8',
  });
  const directoryBytes = Number(
    execFileSync('find', [dir, '-type', 'd', '-printf', '%s\\n'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .reduce((sum, size) => sum + Number(size), 0),
  );
  const symlinkBytes = 'one'.length;
  expect(directorySize(dir)).toBe(1234);
  // The same figure as du's apparent size, less what du adds for directories and the symlink.
  expect(Number(du.split('\t')[0]) - directoryBytes - symlinkBytes).toBe(1234);
});

test('checkOutputPath accepts an absent path or one of the right kind', async () => {
  await fs.writeFile(path.join(dir, 'file'), '');
  await expect(checkOutputPath('o', path.join(dir, 'new/deeper/file'), 'file')).resolves.toBe(
    undefined,
  );
  await expect(checkOutputPath('o', path.join(dir, 'file'), 'file')).resolves.toBe(undefined);
  await expect(checkOutputPath('o', dir, 'directory')).resolves.toBe(undefined);
});

test.each([
  [
    'a directory where a file goes',
    '.',
    'file',
    /^Input "o": ".*" is a directory; give the path of a file/,
  ],
  [
    'a file where a directory goes',
    'file',
    'directory',
    /^Input "o": ".*file" is a file; give the path of a directory/,
  ],
  [
    'a path under a file',
    'file/x/y',
    'file',
    /^Input "o": ".*\/file" is a file, so ".*file\/x\/y" cannot be made in it\.$/,
  ],
] as const)('checkOutputPath refuses %s', async (_name, relative, kind, message) => {
  await fs.writeFile(path.join(dir, 'file'), '');
  await expect(checkOutputPath('o', path.join(dir, relative), kind)).rejects.toThrow(message);
});

test("produceAtomically first removes a killed run's temporaries, not a live run's", async () => {
  const target = path.join(dir, 'layout');
  const deadPid = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
  const dead = path.join(dir, `.layout.tmp-${deadPid}.x1`);
  const live = temporarySibling(target); // named after this (live) process
  const unrelated = path.join(dir, `.layout-other.tmp-${deadPid}.x2`);
  for (const leftover of [dead, live, unrelated]) await fs.mkdir(leftover);
  await produceAtomically(target, (temporary) => fs.mkdir(temporary));
  expect((await fs.readdir(dir)).sort()).toEqual(
    ['layout', path.basename(live), path.basename(unrelated)].sort(),
  );
});

test('removeLeftoverTemporaries says what it removed', async () => {
  const deadPid = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
  const dead = path.join(dir, `.out.tar.tmp-${deadPid}.y.d`);
  await fs.mkdir(dead);
  const said: string[] = [];
  expect(await removeLeftoverTemporaries(path.join(dir, 'out.tar'), (m) => said.push(m))).toEqual([
    dead,
  ]);
  expect(said).toEqual([
    `Removed ${dead}, left by an earlier run that was stopped (pid ${deadPid}).`,
  ]);
});

test("replaceFileSet first removes the staging directory a killed run left beside the set's", async () => {
  const out = path.join(dir, 'out');
  const deadPid = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
  const dead = path.join(dir, `.out.tmp-${deadPid}.z1`);
  await fs.mkdir(dead);
  await fs.writeFile(path.join(dead, 'master.iso'), 'partial');
  await replaceFileSet(out, 'checksums', async (staging) => {
    expect(path.dirname(staging)).toBe(dir); // staged beside out, never inside it
    await fs.writeFile(path.join(staging, 'a'), 'a');
    return { files: ['a'] };
  });
  expect((await fs.readdir(dir)).sort()).toEqual(['out']);
  expect((await fs.readdir(out)).sort()).toEqual(['a', 'checksums']);
});

test('a killed writer not yet reaped (a zombie) counts as gone: its temporary is removed', async () => {
  // `sleep 0.1` runs in the background of a shell that then becomes `sleep 5`, which never
  // waits for it: once it ends it stays a zombie until that sleep ends.
  const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const zombie = Number(
      await new Promise<string>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(String(d))),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    const stat = await fs.readFile(`/proc/${zombie}/stat`, 'utf8');
    expect(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)).toBe('Z');
    const leftover = path.join(dir, `.out.tar.tmp-${zombie}.abc`);
    await fs.writeFile(leftover, 'partial');
    const alive = path.join(dir, `.out.tar.tmp-${parent.pid}.def`);
    await fs.writeFile(alive, 'in progress');
    expect(await removeLeftoverTemporaries(path.join(dir, 'out.tar'), () => undefined)).toEqual([
      leftover,
    ]);
    expect(await fs.readFile(alive, 'utf8')).toBe('in progress');
  } finally {
    parent.kill();
  }
});
