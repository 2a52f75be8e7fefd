import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startService, waitForPort } from './process.js';

/**
 * A real OCI registry for tests: Debian's `docker-registry serve CONFIG` on a free 127.0.0.1
 * port with its own storage directory, optionally behind htpasswd (bcrypt) basic auth.
 */
export interface TestRegistry {
  port: number;
  /** `127.0.0.1:PORT`. */
  address: string;
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startRegistry(
  options: { htpasswd?: { user: string; password: string } } = {},
): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dir}/storage`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options.htpasswd) {
    execFileSync('htpasswd', [
      '-B',
      '-b',
      '-c',
      path.join(dir, 'htpasswd'),
      options.htpasswd.user,
      options.htpasswd.password,
    ]);
    lines.push(
      'auth:',
      '  htpasswd:',
      '    realm: test-registry',
      `    path: ${path.join(dir, 'htpasswd')}`,
    );
  }
  await fs.writeFile(path.join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const service = startService('docker-registry', ['serve', path.join(dir, 'config.yml')]);
  try {
    await waitForPort(port, 15_000);
  } catch (error) {
    await service.stop();
    throw new Error(`docker-registry did not start: ${(error as Error).message}\n${service.log()}`);
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    dir,
    log: service.log,
    stop: async () => {
      await service.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export type Fault = 'none' | 'reset-once-mid-upload' | '503-once' | 'stall-manifest-put';

/**
 * An HTTP proxy in front of a registry that counts the blob bytes uploaded through it and can
 * inject one fault: reset the connection halfway through the first large upload request, answer
 * 503 to the first blob upload request, or never answer a manifest PUT (a tag).
 */
export interface FaultProxy {
  port: number;
  address: string;
  /** Request-body bytes of blob uploads (PATCH/PUT under /blobs/uploads/) that reached it. */
  uploadedBytes(): number;
  /** How many faults were injected. */
  faults(): number;
  /** Method and path of every request, in order. */
  requests(): string[];
  stop(): Promise<void>;
}

export async function startFaultProxy(
  targetPort: number,
  fault: Fault = 'none',
): Promise<FaultProxy> {
  let uploaded = 0;
  let injected = 0;
  const seen: string[] = [];
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    seen.push(`${request.method} ${url.split('?')[0]}`);
    const isUpload =
      (request.method === 'PATCH' || request.method === 'PUT') && url.includes('/blobs/uploads/');
    const length = Number(request.headers['content-length'] ?? 0);
    if (fault === 'stall-manifest-put' && request.method === 'PUT' && url.includes('/manifests/')) {
      injected++;
      request.resume(); // read, and never answered
      return;
    }
    if (fault === '503-once' && injected === 0 && isUpload) {
      injected++;
      request.resume();
      request.on('end', () => {
        response.writeHead(503, { 'content-type': 'text/plain', connection: 'close' });
        response.end('injected 503\n');
      });
      return;
    }
    const resetAfter =
      fault === 'reset-once-mid-upload' && injected === 0 && isUpload && length > 64 * 1024
        ? Math.floor(length / 2)
        : undefined;
    const upstream = http.request({
      host: '127.0.0.1',
      port: targetPort,
      method: request.method,
      path: url,
      headers: request.headers,
    });
    upstream.on('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (isUpload) uploaded += chunk.length;
      if (resetAfter !== undefined && received >= resetAfter && injected === 0) {
        injected++;
        upstream.destroy();
        request.socket.resetAndDestroy();
        return;
      }
      upstream.write(chunk);
    });
    request.on('end', () => upstream.end());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    address: `127.0.0.1:${port}`,
    uploadedBytes: () => uploaded,
    faults: () => injected,
    requests: () => [...seen],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
