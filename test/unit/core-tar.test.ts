import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { sha256File } from '../../actions/core/src/files.js';
import {
  ChunkPool,
  TAR_CHUNK_BYTES,
  USTAR_MAX_SIZE,
  headerBlocks,
  parseNumeric,
  parsePaxRecords,
  tarStream,
  writeTar,
} from '../../actions/core/src/tar.js';

let work: string;

async function makeTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.writeFile(path.join(root, 'usr/bin/app'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.chmod(path.join(root, 'usr/bin/app'), 0o4755);
  await fs.link(path.join(root, 'usr/bin/app'), path.join(root, 'usr/bin/app-again'));
  await fs.symlink('/usr/bin/app', path.join(root, 'etc/app-link'));
  const longDir = path.join(root, 'usr/share', 'd'.repeat(80), 'e'.repeat(80));
  await fs.mkdir(longDir, { recursive: true });
  await fs.writeFile(path.join(longDir, 'ünïcode-file'), 'x');
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'tar-test-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('deterministic tar', () => {
  test('same tree in two places gives the same bytes; tar reads every entry back', async () => {
    const [a, b] = [path.join(work, 'a'), path.join(work, 'b')];
    await makeTree(a);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // different mtimes
    await makeTree(b);
    const options = { owners: 'root' as const, mtimeClamp: 1_700_000_000 };
    await writeTar(a, path.join(work, 'a.tar'), options);
    await writeTar(b, path.join(work, 'b.tar'), options);
    expect(await sha256File(path.join(work, 'a.tar'))).toBe(
      await sha256File(path.join(work, 'b.tar')),
    );

    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', path.join(work, 'a.tar')], {
      encoding: 'utf8',
    });
    expect(listing).toMatch(/^-rwsr-xr-x 0\/0 .* usr\/bin\/app$/m);
    expect(listing).toMatch(/^hrwsr-xr-x 0\/0 .* usr\/bin\/app-again link to usr\/bin\/app$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* etc\/app-link -> \/usr\/bin\/app$/m);
    expect(listing).toContain(`${'e'.repeat(80)}/ünïcode-file`);
    expect(listing).toMatch(/ 2023-11-14 /);

    const names = listing
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/\s+/)[5]);
    expect(names).toEqual([...names].sort());

    const extracted = path.join(work, 'x');
    await fs.mkdir(extracted);
    execFileSync('tar', ['-xf', path.join(work, 'a.tar'), '-C', extracted]);
    const app = await fs.stat(path.join(extracted, 'usr/bin/app'));
    const again = await fs.stat(path.join(extracted, 'usr/bin/app-again'));
    expect(app.ino).toBe(again.ino);
    expect(await fs.readFile(path.join(extracted, 'usr/bin/app'), 'utf8')).toBe(
      '#!/bin/sh\necho hi\n',
    );
  });

  test('preserved owners stay numeric', async () => {
    const root = path.join(work, 'owned');
    await fs.mkdir(root);
    await fs.writeFile(path.join(root, 'f'), 'x');
    await fs.chown(path.join(root, 'f'), 4242, 4343);
    await writeTar(root, path.join(work, 'owned.tar'), { owners: 'preserve' });
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', path.join(work, 'owned.tar')], {
      encoding: 'utf8',
    });
    expect(listing).toMatch(/4242\/4343 .* f$/m);
  });
});

describe('chunks handed back to a pool', () => {
  test('are filled again: a few buffers for many chunks, the same bytes as fresh ones', async () => {
    const root = path.join(work, 'pooled');
    await makeTree(root);
    await fs.writeFile(path.join(root, 'usr/bin/big'), Buffer.alloc(5 * TAR_CHUNK_BYTES + 7, 'z'));
    const fresh = Buffer.concat([...tarStream(root, { owners: 'root' })]);
    const pool = new ChunkPool();
    const seen = new Set<ArrayBufferLike>();
    const copies: Buffer[] = [];
    for (const chunk of tarStream(root, { owners: 'root', pool })) {
      seen.add(chunk.buffer);
      copies.push(Buffer.from(chunk));
      pool.give(chunk);
    }
    expect(Buffer.concat(copies).equals(fresh)).toBe(true);
    expect(copies.length).toBeGreaterThan(5);
    expect(seen.size).toBeLessThanOrEqual(2);
  });

  test('takes back only whole chunks it made', () => {
    const pool = new ChunkPool();
    const own = pool.take();
    pool.give(Buffer.allocUnsafe(TAR_CHUNK_BYTES));
    pool.give(own.subarray(0, 512));
    expect(pool.take()).not.toBe(own);
    pool.give(own);
    pool.give(own);
    expect(pool.take()).toBe(own);
    expect(pool.take()).not.toBe(own);
  });
});

describe('select: a root cut into two tars', () => {
  test('each holds its entries and their parent directories, with the same headers', async () => {
    const root = path.join(work, 'select');
    await makeTree(root);
    const upper = (relative: string): boolean => relative === 'usr/bin/app' || relative === 'etc';
    const [lowerTar, upperTar] = [path.join(work, 'lower.tar'), path.join(work, 'upper.tar')];
    const options = { owners: 'root' as const, mtimeClamp: 1_700_000_000 };
    await writeTar(root, lowerTar, { ...options, select: (relative) => !upper(relative) });
    await writeTar(root, upperTar, { ...options, select: upper });
    const list = (file: string): string[] =>
      execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).trim().split('\n');
    const names = (file: string): string[] =>
      execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    // etc/ itself is selected above, so its symlink (not selected) is below with etc/ before it.
    expect(names(upperTar)).toEqual(['etc/', 'usr/', 'usr/bin/', 'usr/bin/app']);
    expect(names(lowerTar)).toContain('etc/app-link');
    expect(names(lowerTar)).toContain('etc/');
    expect(names(lowerTar)).not.toContain('usr/bin/app');
    // The hard link's first path is in the upper tar, so below it is a file of its own.
    expect(list(lowerTar).find((line) => line.endsWith('usr/bin/app-again'))).toMatch(
      /^-rwsr-xr-x/,
    );
    const header = (file: string, name: string): string | undefined =>
      list(file).find((line) => line.endsWith(` ${name}`));
    expect(header(upperTar, 'usr/bin/')).toBe(header(lowerTar, 'usr/bin/'));
    expect(header(upperTar, 'usr/')).toBe(header(lowerTar, 'usr/'));
  });
});

describe('sizes over 8 GiB', () => {
  test('a pax size record carries the size; the ustar field holds 0; GNU tar lists it', async () => {
    const size = 9 * 1024 ** 3 + 5;
    expect(size).toBeGreaterThan(USTAR_MAX_SIZE);
    const blocks = headerBlocks({
      name: 'big',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      mtime: 0,
      type: '0',
    });
    expect(blocks).toHaveLength(4);
    const [pax, body, , main] = blocks as [Buffer, Buffer, Buffer, Buffer];
    expect(String.fromCharCode(pax[156] as number)).toBe('x');
    expect(parsePaxRecords(body)).toEqual([['size', String(size)]]);
    expect(parseNumeric(main, 124, 12)).toBe(0);
    // The archive stops after the header; tar lists the entry before it finds the data missing.
    const file = path.join(work, 'big-header.tar');
    await fs.writeFile(file, Buffer.concat(blocks));
    const listing = spawnSync('tar', ['-tvf', file], { encoding: 'utf8' });
    expect(listing.stdout).toMatch(
      new RegExp(`^-rw-r--r-- 0/0 +${size} 1970-01-01 00:00 big$`, 'm'),
    );
  });

  test('a size that fits ustar has no pax header', () => {
    const header = { name: 'fits', mode: 0o644, uid: 0, gid: 0, mtime: 0, type: '0' as const };
    const [main] = headerBlocks({ ...header, size: USTAR_MAX_SIZE });
    expect(headerBlocks({ ...header, size: USTAR_MAX_SIZE })).toHaveLength(1);
    expect(parseNumeric(main as Buffer, 124, 12)).toBe(USTAR_MAX_SIZE);
  });
});
