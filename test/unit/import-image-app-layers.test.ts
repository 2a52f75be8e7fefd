import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pacmanSections, splitByOrigin } from '../../actions/import-image/src/app-layers.js';

let work: string;

async function localPackage(
  root: string,
  name: string,
  buildDate: number,
  files: string[],
): Promise<void> {
  const dir = path.join(root, 'var/lib/pacman/local', `${name}-1.0-1`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    path.join(dir, 'desc'),
    `%NAME%\n${name}\n\n%VERSION%\n1.0-1\n\n%BUILDDATE%\n${buildDate}\n\n`,
  );
  await fs.writeFile(path.join(dir, 'files'), `%FILES%\n${files.join('\n')}\n\n`);
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'app-layers-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('layers: app, from the pacman database', () => {
  test('pacmanSections reads %KEY% sections', () => {
    const sections = pacmanSections('%NAME%\nhello\n\n%FILES%\nusr/\nusr/bin/hello\n\n');
    expect(sections.get('NAME')).toEqual(['hello']);
    expect(sections.get('FILES')).toEqual(['usr/', 'usr/bin/hello']);
  });

  test("the app's files, its own directories, the database and the manifest go on top", async () => {
    const root = path.join(work, 'root');
    await localPackage(root, 'app', 2000, ['usr/', 'usr/bin/', 'usr/bin/app', 'usr/lib/app/']);
    await localPackage(root, 'lib', 1500, ['usr/', 'usr/bin/', 'usr/lib/', 'usr/lib/libx.so']);
    const split = await splitByOrigin(root, 'app', 1800);
    const upper = [
      'usr/bin/app',
      'usr/lib/app',
      'usr/share/arch-core/manifest.json',
      'var/lib/pacman/local',
      'var/lib/pacman/local/lib-1.0-1/files',
    ];
    for (const entry of upper) expect(split.inAppLayer(entry)).toBe(true);
    for (const entry of ['usr', 'usr/bin', 'usr/lib/libx.so', 'var/lib/pacman', 'etc/x']) {
      expect(split.inAppLayer(entry)).toBe(false);
    }
    // The clamp is the other packages' newest build date when that is earlier than the epoch.
    expect(split.mtimeClamp).toBe(1500);
    expect((await splitByOrigin(root, 'app', 1200)).mtimeClamp).toBe(1200);
  });

  test('a root without the database, or without the app, is refused', async () => {
    const bare = path.join(work, 'bare');
    await fs.mkdir(bare);
    await expect(splitByOrigin(bare, 'app', 0)).rejects.toThrow(
      /layers: app needs pacman's database in the root \(var\/lib\/pacman\/local\)/,
    );
    await expect(splitByOrigin(path.join(work, 'root'), 'other', 0)).rejects.toThrow(
      /the app package other is not in the root's var\/lib\/pacman\/local/,
    );
  });
});
