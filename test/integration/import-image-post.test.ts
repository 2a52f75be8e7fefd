import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { cancelWhenLogged, errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { sshTunnelInputs, startSshd, type Sshd } from '../helpers/sshd.js';

// import-image's post step: a push cancelled (SIGINT, as the runner cancels) while the SSH tunnel
// to the registry is open, through a real sshd, to a "registry" that accepts and never answers
// (so the run is surely holding the tunnel and its work directory when the signal comes).

jest.setTimeout(120_000);

let work: string;
let root: string;
let sshd: Sshd;
let stalled: net.Server;
const held: net.Socket[] = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-post-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
  sshd = await startSshd();
  stalled = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => stalled?.close(resolve));
  await sshd?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('cancelled with the tunnel open: no tunnel, no port, no temporaries after the post step', async () => {
  const runnerTemp = path.join(work, 'runner-temp');
  const { port } = stalled.address() as net.AddressInfo;
  const result = await runBundle(
    'import-image',
    {
      root,
      image: `127.0.0.1:${port}/post/hello`,
      insecure: 'true',
      ...sshTunnelInputs(sshd),
    },
    { RUNNER_TEMP: runnerTemp },
    cancelWhenLogged(/is reached at 127\.0\.0\.1:\d+/),
  );
  expect(result.cancelledWith).toBe('SIGINT');
  expect(result.code).toBe(130);
  const forwarded = Number(/is reached at 127\.0\.0\.1:(\d+)/.exec(result.log)?.[1]);
  expect(forwarded).toBeGreaterThan(0);
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).toContain(
    `the tunnel 127.0.0.1:${forwarded} through ${sshd.user}@127.0.0.1:${sshd.port} is closed`,
  );
  expect(result.post?.log).toMatch(/removed the work directory \S+import-image-/);
  expect(await accepts(forwarded)).toBe(false);
  expect((await fs.readdir(runnerTemp)).filter((name) => name.startsWith('import-image-'))).toEqual(
    [],
  );
});

test('after a failed push the work directory is already gone: the post step only says so', async () => {
  const runnerTemp = path.join(work, 'runner-temp-failed');
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as net.AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const result = await runBundle(
    'import-image',
    { root, image: `127.0.0.1:${port}/post/hello`, insecure: 'true' },
    { RUNNER_TEMP: runnerTemp },
  );
  expect(result.code).toBe(1);
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).toMatch(/the work directory \S+import-image-\S+ is already gone/);
  expect((await fs.readdir(runnerTemp)).filter((name) => name.startsWith('import-image-'))).toEqual(
    [],
  );
});
