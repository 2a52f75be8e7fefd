import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import {
  SshAuthenticationError,
  connectSsh,
  type SshOptions,
} from '../../actions/core/src/ssh-connect.js';
import {
  KEEPALIVE_COUNT_MAX,
  SshConnectionLostError,
  type SshConnection,
} from '../../actions/core/src/ssh-connection.js';
import { HostKeyMismatchError, UnknownHostError } from '../../actions/core/src/ssh-known-hosts.js';
import { startCuttableTcpProxy } from '../helpers/fault-proxies.js';
import { freePort } from '../helpers/process.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

// The SSH core against a real OpenSSH server (/usr/sbin/sshd) on a non-default loopback port.

jest.setTimeout(60_000);

let sshd: Sshd;
let written: string[] = [];
const originalWrite = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  sshd = await startSshd({ hostKeyTypes: ['ed25519', 'rsa'] });
});
afterAll(async () => {
  await sshd?.stop();
});
beforeEach(() => {
  written = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(chunk.toString());
    return true;
  }) as typeof process.stdout.write;
});
afterEach(() => {
  process.stdout.write = originalWrite;
  process.exitCode = undefined;
});

function options(overrides: Partial<SshOptions> = {}): SshOptions {
  return {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: sshd.privateKey,
    knownHosts: sshd.knownHosts,
    connectAttempts: 1,
    ...overrides,
  };
}

async function withConnection<T>(
  overrides: Partial<SshOptions>,
  use: (connection: SshConnection) => Promise<T>,
): Promise<T> {
  const connection = await connectSsh(options(overrides));
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

async function failure(overrides: Partial<SshOptions>): Promise<Error> {
  try {
    const connection = await connectSsh(options(overrides));
    await connection.close();
  } catch (error) {
    return error as Error;
  }
  throw new Error('the connection succeeded');
}

test('connects, verifies the host key, runs argv quoted for the remote shell', async () => {
  await withConnection({}, async (connection) => {
    const result = await connection.exec(['printf', '%s|', "it's", 'a b', '$HOME', '`id`']);
    expect(result).toEqual({ code: 0, stdout: "it's|a b|$HOME|`id`|", stderr: '' });
    const who = await connection.exec(['id', '-un']);
    expect(who.stdout.trim()).toBe(sshd.user);
    const failed = await connection.exec(['sh', '-c', 'echo oops >&2; exit 3']);
    expect(failed).toEqual({ code: 3, stdout: '', stderr: 'oops\n' });
  });
  const log = written.join('');
  expect(log).toContain(`Host key of [127.0.0.1]:${sshd.port} verified`);
  expect(log).toContain('::add-mask::');
  // The key appears only in the runner's mask commands, never as log text.
  const keyLine = sshd.privateKey.split('\n')[1] as string;
  expect(log).toContain(`::add-mask::${keyLine}`);
  const unmasked = log.split('\n').filter((line) => !line.startsWith('::add-mask::'));
  expect(unmasked.join('\n')).not.toContain(keyLine);
});

test('the session PATH starts with binDir, where stand-in commands go', async () => {
  const script = path.join(sshd.binDir, 'hello-standin');
  await fs.writeFile(script, '#!/bin/sh\necho "stand-in says $1"\n', { mode: 0o755 });
  await withConnection({}, async (connection) => {
    const result = await connection.exec(['hello-standin', 'hi there']);
    expect(result.stdout).toBe('stand-in says hi there\n');
    const home = await connection.exec(['sh', '-c', 'touch "$HOME/x" && echo "$HOME"']);
    expect(home).toMatchObject({ code: 0, stdout: `${sshd.home}\n` });
  });
});

test('a hashed known_hosts entry (ssh-keygen -H) verifies', async () => {
  const file = path.join(sshd.dir, 'known_hosts_hashed');
  await fs.writeFile(file, `${sshd.knownHosts}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file]);
  const hashed = await fs.readFile(file, 'utf8');
  expect(hashed).toMatch(/^\|1\|/);
  expect(hashed).not.toContain('127.0.0.1');
  await withConnection({ knownHosts: hashed }, async (connection) => {
    expect((await connection.exec(['true'])).code).toBe(0);
  });
});

test('only the RSA host key known: the RSA key is negotiated and verified (rsa-sha2)', async () => {
  const rsaLine = sshd.knownHosts.split('\n').find((line) => line.includes('ssh-rsa')) as string;
  await withConnection({ knownHosts: `# comment\n${rsaLine}\n` }, async (connection) => {
    expect((await connection.exec(['true'])).code).toBe(0);
  });
  expect(written.join('')).toContain(`ssh-rsa ${sshd.hostKeyFingerprints[1]}`);
});

test('a wrong known-hosts entry is refused at once, naming both fingerprints', async () => {
  const impostorFile = path.join(sshd.dir, 'impostor');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', impostorFile]);
  const impostor = (await fs.readFile(`${impostorFile}.pub`, 'utf8')).split(/\s+/);
  const impostorFingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${impostorFile}.pub`])
    .toString()
    .split(/\s+/)[1] as string;
  const started = Date.now();
  const error = await failure({
    knownHosts: `[127.0.0.1]:${sshd.port} ${impostor[0]} ${impostor[1]}`,
    connectAttempts: 4,
    retryDelayMs: 2000,
  });
  expect(Date.now() - started).toBeLessThan(1900); // not retried
  expect(error).toBeInstanceOf(HostKeyMismatchError);
  expect(error.message).toContain(sshd.hostKeyFingerprints[0]);
  expect(error.message).toContain(impostorFingerprint);
  expect(error.message).toMatch(/^Host key verification failed for \[127\.0\.0\.1\]:\d+/);
  expect(written.join('')).not.toMatch(/retry/);
});

test('a host missing from known-hosts is refused clearly', async () => {
  const error = await failure({
    knownHosts: sshd.knownHosts.replaceAll(`:${sshd.port} `, `:${sshd.port + 1} `),
  });
  expect(error).toBeInstanceOf(UnknownHostError);
  expect(error.message).toContain(`[127.0.0.1]:${sshd.port} is not in known-hosts`);
  expect(error.message).toContain(sshd.hostKeyFingerprints[0]);
});

test('strict-host-key-checking false accepts an unknown host and warns loudly', async () => {
  await withConnection({ knownHosts: '', strictHostKeyChecking: false }, async (connection) => {
    expect((await connection.exec(['true'])).code).toBe(0);
  });
  const log = written.join('');
  expect(log).toMatch(/::warning::strict-host-key-checking is OFF/);
  expect(log).toMatch(/::warning::UNVERIFIED host key accepted/);
});

test('a key the server does not know is refused with its fingerprint', async () => {
  const other = await sshd.makeKeyPair('ed25519');
  const error = await failure({ privateKey: other.privateKey, connectAttempts: 3 });
  expect(error).toBeInstanceOf(SshAuthenticationError);
  expect(error.message).toContain(`SSH authentication as "${sshd.user}"`);
  expect(error.message).toMatch(/ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}/);
  expect(error.message).not.toContain('PRIVATE');
});

test('a text that is not a key fails without echoing it', async () => {
  const error = await failure({ privateKey: 'not-a-key secret-text' });
  expect(error.message).toMatch(/The SSH private key cannot be read/);
  expect(error.message).not.toContain('secret-text');
});

test.each(['ecdsa', 'rsa'] as const)(
  'a %s user key authenticates (RSA signs with SHA-2)',
  async (type) => {
    // SHA-1 RSA signatures (ssh-rsa) are not accepted: an RSA login must sign with SHA-2.
    const server = await startSshd({
      userKeyType: type,
      config: [
        'PubkeyAcceptedAlgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256',
      ],
    });
    try {
      const connection = await connectSsh({
        host: server.host,
        port: server.port,
        user: server.user,
        privateKey: server.privateKey,
        knownHosts: server.knownHosts,
      });
      try {
        expect((await connection.exec(['echo', type])).stdout).toBe(`${type}\n`);
      } finally {
        await connection.close();
      }
      if (type === 'rsa') expect(server.log()).toMatch(/Accepted publickey .* RSA SHA256:/);
    } finally {
      await server.stop();
    }
  },
);

test('connect retries are bounded, with backoff, and each is logged', async () => {
  const port = await freePort();
  const started = Date.now();
  const error = await failure({ port, connectAttempts: 3, retryDelayMs: 100 });
  expect(error.message).toMatch(/after 3 attempts/);
  expect(error.message).toMatch(/ECONNREFUSED/);
  const retries = written.join('').match(/retry \d of 2 in/g) ?? [];
  expect(retries).toEqual(['retry 1 of 2 in', 'retry 2 of 2 in']);
  expect(Date.now() - started).toBeGreaterThanOrEqual(300); // 100 ms + 200 ms
});

test('forwardLocalPort reaches a TCP server on the host', async () => {
  const server = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = (server.address() as net.AddressInfo).port;
  try {
    await withConnection({}, async (connection) => {
      const forward = await connection.forwardLocalPort('127.0.0.1', target);
      expect(forward.port).not.toBe(target);
      for (const text of ['first', 'second']) {
        const echoed = await new Promise<string>((resolve, reject) => {
          const socket = net.connect(forward.port, '127.0.0.1', () => socket.end(text));
          let data = '';
          socket.on('data', (chunk) => (data += chunk.toString()));
          socket.on('end', () => resolve(data));
          socket.on('error', reject);
        });
        expect(echoed).toBe(text);
      }
      await forward.close();
    });
  } finally {
    server.close();
  }
});

test('openUnixSocket reaches a unix socket on the host (direct-streamlocal)', async () => {
  const socketDir = path.join(sshd.dir, 'sock');
  await fs.mkdir(socketDir, { mode: 0o755 });
  const socketPath = path.join(socketDir, 'echo.sock');
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => socket.end(`echo:${chunk.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  await fs.chmod(socketPath, 0o666);
  try {
    await withConnection({}, async (connection) => {
      const stream = await connection.openUnixSocket(socketPath);
      const reply = await new Promise<string>((resolve, reject) => {
        let data = '';
        stream.on('data', (chunk: Buffer) => (data += chunk.toString()));
        stream.on('close', () => resolve(data));
        stream.on('error', reject);
        stream.end('ping');
      });
      expect(reply).toBe('echo:ping');
      await expect(connection.openUnixSocket(path.join(socketDir, 'absent.sock'))).rejects.toThrow(
        /streamlocal channel to .*absent\.sock .* was refused/,
      );
    });
  } finally {
    server.close();
  }
});

test('a path gone silent (no RST) is detected by keepalives in bounded time, with one line', async () => {
  const proxy = await startCuttableTcpProxy(sshd.port);
  const knownHosts = sshd.knownHosts.replaceAll(
    `[127.0.0.1]:${sshd.port}`,
    `[127.0.0.1]:${proxy.port}`,
  );
  const keepaliveIntervalMs = 500;
  try {
    await withConnection(
      { port: proxy.port, knownHosts, keepaliveIntervalMs },
      async (connection) => {
        expect((await connection.exec(['echo', 'up'])).stdout).toBe('up\n');
        // Several keepalive periods with the path healthy: answered keepalives keep it open.
        await new Promise((resolve) => setTimeout(resolve, 6 * keepaliveIntervalMs));
        expect(connection.lostReason()).toBeUndefined();
        const running = connection.exec(['sleep', '60']);
        await new Promise((resolve) => setTimeout(resolve, 200));
        proxy.blackHole();
        const silentSince = Date.now();
        await expect(running).rejects.toThrow(/was lost while running "sleep"/);
        const detectedAfter = Date.now() - silentSince;
        // KEEPALIVE_COUNT_MAX + 1 periods after the last answer, which came at most a period
        // before the path went silent; the upper bound leaves room for a loaded machine.
        expect(detectedAfter).toBeGreaterThanOrEqual(
          (KEEPALIVE_COUNT_MAX - 1) * keepaliveIntervalMs,
        );
        expect(detectedAfter).toBeLessThan((KEEPALIVE_COUNT_MAX + 1) * keepaliveIntervalMs + 3000);
        expect(connection.lostReason()).toBe(
          'no answer from the host for 2 s (3 keepalives unanswered): the network path or the host is gone',
        );
        const warnings = written.join('').match(/^::warning::.*$/gm) ?? [];
        expect(warnings).toEqual([
          `::warning::The SSH connection to [127.0.0.1]:${proxy.port} is lost: no answer from the host for 2 s (3 keepalives unanswered): the network path or the host is gone.`,
        ]);
        await expect(connection.exec(['true'])).rejects.toThrow(SshConnectionLostError);
      },
    );
  } finally {
    await proxy.close();
  }
});
