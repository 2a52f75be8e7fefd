import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { cancelWhenLogged, errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// import-image stopped with SIGTERM while it writes the layer and while it pushes (to a
// "registry" that accepts and never answers), each followed by a rerun into the same output and
// a real registry: the rerun succeeds, and nothing of the stopped run is left in RUNNER_TEMP or
// beside the output, where a later step could take it.

jest.setTimeout(300_000);

let work: string;
let root: string;
let registry: TestRegistry;
let silent: net.Server;
const held: net.Socket[] = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-kill-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
  // Incompressible bytes, so that writing the layer takes a while.
  await fs.writeFile(path.join(root, 'usr/bin/blob'), randomBytes(150_000_000));
  registry = await startRegistry();
  silent = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => silent?.close(resolve));
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** What is left in `dir` whose name starts with one of `prefixes`. */
async function leftIn(dir: string, ...prefixes: string[]): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => prefixes.some((prefix) => name.startsWith(prefix)));
}

describe('SIGTERM, then a rerun', () => {
  test.each([
    ['while the layer is written', 'layer', /gzip level \d+, /],
    ['during the push', 'push', /Push to 127\.0\.0\.1:\d+/],
  ])('%s', async (_phase, name, line) => {
    const runnerTemp = path.join(work, `temp-${name}`);
    const outDir = path.join(work, `out-${name}`);
    await fs.mkdir(outDir);
    const output = path.join(outDir, 'image.tar');
    const { port } = silent.address() as net.AddressInfo;
    const target = name === 'push' ? `127.0.0.1:${port}` : registry.address;
    const killed = await runBundle(
      'import-image',
      { root, image: `${target}/kill/${name}`, insecure: 'true', output },
      { RUNNER_TEMP: runnerTemp },
      cancelWhenLogged(line, 'SIGTERM'),
    );
    expect(killed.cancelledWith).toBe('SIGTERM');
    // Stopped in the phase named: the layer not finished, or the push not.
    const finished =
      name === 'layer' ? /image sha256:[0-9a-f]{64} \(config/ : /uploaded .* of blobs/;
    expect(killed.log).not.toMatch(finished);
    expect(killed.code).not.toBe(0);
    expect(killed.post?.code).toBe(0);
    expect(errorLines(killed.post?.log ?? '')).toEqual([]);
    expect(await leftIn(outDir, '')).toEqual([]);

    const rerun = await runBundle(
      'import-image',
      { root, image: `${registry.address}/kill/${name}`, insecure: 'true', output },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(errorLines(rerun.log)).toEqual([]);
    expect(rerun.code).toBe(0);
    expect(rerun.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await leftIn(outDir, '')).toEqual(['image.tar']);
    expect(await leftIn(runnerTemp, 'import-image-', '.')).toEqual([]);
  });
});
