import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { i686BuildRoot, mountsUnder } from '../helpers/i686-root.js';

// The cached Debian i386 root (made once, about a minute, then reused) that stands in for an
// Arch Linux 32 base-devel root in the build-root tests.

describe('the i686 build root helper', () => {
  test('gives a complete i386 root with makepkg and a toolchain, nothing left mounted', async () => {
    const root = await i686BuildRoot((line) => console.log(line));
    for (const tool of ['usr/bin/makepkg', 'usr/bin/gcc', 'usr/bin/bsdtar', 'usr/bin/fakeroot']) {
      await expect(fs.access(path.join(root, tool))).resolves.toBeUndefined();
    }
    const machine = execFileSync('setarch', ['i686', 'chroot', root, '/bin/uname', '-m'], {
      encoding: 'utf8',
    });
    expect(machine.trim()).toBe('i686');
    const elf = execFileSync('file', ['-L', path.join(root, 'bin/bash')], { encoding: 'utf8' });
    expect(elf).toMatch(/ELF 32-bit/);
    expect(await mountsUnder(root)).toEqual([]);
    // A second call reuses the cached root.
    const started = Date.now();
    expect(await i686BuildRoot()).toBe(root);
    expect(Date.now() - started).toBeLessThan(1000);
  }, 900_000);
});
