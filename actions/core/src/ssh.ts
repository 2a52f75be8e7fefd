import './esm-globals.js';
import * as core from '@actions/core';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { Client, utils, type ClientChannel, type ConnectConfig, type ParsedKey } from 'ssh2';
import { UserError, messageOf } from './errors.js';
import { maskSecret } from './inputs.js';
import { TransientError, withRetries } from './retry.js';

/**
 * The SSH core shared by import-image (registry tunnel) and deploy-fleet (fleet API tunnel).
 *
 * Pure JavaScript on the `ssh2` package, in-process: the private key is held in memory only
 * (masked in the log, never written to disk). The host key is always checked against the
 * known_hosts lines the caller hands in (plain, `[host]:port`, comma lists, wildcards, hashed
 * `|1|salt|hash` entries); a mismatch fails at once with both SHA256 fingerprints and is never
 * retried. Connecting is retried with backoff, a bounded number of times, for network errors only.
 */
export interface SshOptions {
  host: string;
  /** Default 22 is applied by callers' input parsing. */
  port: number;
  user: string;
  /** The key text itself (OpenSSH or PEM; ed25519, ecdsa, RSA — RSA signs with SHA-2). */
  privateKey: string;
  /** known_hosts lines: plain, [host]:port, comma lists, hashed |1|... */
  knownHosts: string;
  /** Default true. false accepts a host that is not in knownHosts, with a loud warning. */
  strictHostKeyChecking?: boolean;
  /** Bounded connect attempts with backoff (default 4). */
  connectAttempts?: number;
  /** Time allowed for one connection's handshake and authentication (default 20 s). */
  readyTimeoutMs?: number;
  /** First backoff delay; doubles per retry, at most 8 s (default 1 s). */
  retryDelayMs?: number;
}

export interface SshConnection {
  /** 127.0.0.1:<ephemeral> on this machine, forwarded (direct-tcpip) to remoteHost:remotePort. */
  forwardLocalPort(
    remoteHost: string,
    remotePort: number,
  ): Promise<{ port: number; close(): Promise<void> }>;
  /** OpenSSH direct-streamlocal@openssh.com channel to a unix socket on the host. */
  openUnixSocket(socketPath: string): Promise<Duplex>;
  /** An exec session running argv (each argument single-quoted for the remote shell). */
  execStream(argv: string[]): Promise<Duplex>;
  exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** The host presented a key other than the one known-hosts holds for it. */
export class HostKeyMismatchError extends UserError {
  override name = 'HostKeyMismatchError';
}

/** The host is not in known-hosts at all (strict checking on). */
export class UnknownHostError extends UserError {
  override name = 'UnknownHostError';
}

/** The server refused the key. */
export class SshAuthenticationError extends UserError {
  override name = 'SshAuthenticationError';
}

// ---------------------------------------------------------------------------------------------
// known_hosts

export interface KnownHostEntry {
  marker?: '@cert-authority' | '@revoked';
  /** The host field as written: a comma list of patterns, or one hashed `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The key blob (SSH wire format). */
  key: Buffer;
  line: number;
}

/** Parses known_hosts text; comments and blank lines skipped, a malformed line is an error. */
export function parseKnownHosts(text: string, what = 'known-hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      if (fields[0] !== '@cert-authority' && fields[0] !== '@revoked') {
        throw new UserError(`${what} line ${index + 1}: unknown marker "${fields[0]}".`);
      }
      marker = fields.shift() as KnownHostEntry['marker'];
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyText)) {
      throw new UserError(
        `${what} line ${index + 1} is not a known_hosts line ("host key-type base64-key"): "${truncate(line)}".`,
      );
    }
    const key = Buffer.from(keyText, 'base64');
    if (keyTypeOf(key) !== keyType) {
      throw new UserError(
        `${what} line ${index + 1}: the key is not of the type "${keyType}" it names.`,
      );
    }
    entries.push({ marker, hosts, keyType, key, line: index + 1 });
  });
  return entries;
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether a known_hosts host field matches `name` (as made by knownHostsName). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatches(glob.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function globMatches(glob: string, name: string): boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(name);
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The host key algorithms ssh2 may negotiate for a known key type. */
function algorithmsFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (keyType === 'ssh-ed25519' || keyType.startsWith('ecdsa-sha2-nistp')) return [keyType];
  return [];
}

export type HostKeyVerdict = { ok: true; known: boolean } | { ok: false; error: UserError };

/**
 * Checks the key a host presented against the known_hosts entries. Pure: the connection code
 * and the unit tests share it.
 */
export function verifyHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  presented: Buffer,
  strict: boolean,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const type = keyTypeOf(presented) ?? 'unknown';
  const presentedText = `${type} ${fingerprintOf(presented)}`;
  const forHost = entries.filter((entry) => hostFieldMatches(entry.hosts, name));
  if (forHost.some((entry) => entry.marker === '@revoked' && entry.key.equals(presented))) {
    return {
      ok: false,
      error: new HostKeyMismatchError(
        `Host key verification failed for ${name}: its key ${presentedText} is marked @revoked in known-hosts.`,
      ),
    };
  }
  const plain = forHost.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(presented))) return { ok: true, known: true };
  if (plain.length > 0) {
    const sameType = plain.filter((entry) => entry.keyType === type);
    const expected = (sameType.length > 0 ? sameType : plain)
      .map(
        (entry) => `${entry.keyType} ${fingerprintOf(entry.key)} (known-hosts line ${entry.line})`,
      )
      .join(', ');
    return {
      ok: false,
      error: new HostKeyMismatchError(
        `Host key verification failed for ${name}: the host presented ${presentedText}, but known-hosts expects ${expected}. ` +
          'If the host was reinstalled, put its new key in known-hosts after checking it; otherwise someone may be intercepting the connection. Not retried.',
      ),
    };
  }
  if (strict) {
    return {
      ok: false,
      error: new UnknownHostError(
        `Host key verification failed: ${name} is not in known-hosts (it presented ${presentedText}). ` +
          `Add its line (e.g. from \`ssh-keyscan -p ${port} ${host}\`, checked against the host's own fingerprint).`,
      ),
    };
  }
  return { ok: true, known: false };
}

// ---------------------------------------------------------------------------------------------
// quoting

/** One argument quoted for a POSIX shell: 'text', with ' written as '\''. */
export function shellQuote(argument: string): string {
  return `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** The remote command line for argv: every argument single-quoted (never a shell string). */
export function remoteCommand(argv: string[]): string {
  if (argv.length === 0) throw new Error('remoteCommand: empty argv');
  return argv.map(shellQuote).join(' ');
}

// ---------------------------------------------------------------------------------------------
// connecting

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Parses the private key; the message never contains the key. */
export function parsePrivateKey(privateKey: string): ParsedKey {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (!key || key instanceof Error) {
    const why = key instanceof Error ? `: ${key.message}` : '';
    throw new UserError(
      `The SSH private key cannot be read${why}. Give the unencrypted private key text (OpenSSH or PEM; ed25519, ecdsa or RSA).`,
    );
  }
  if (key.isPrivateKey && !key.isPrivateKey()) {
    throw new UserError('The SSH key given is a public key; give the private key.');
  }
  return key;
}

/** Connects, verifies the host key, authenticates with the key. */
export async function connectSsh(options: SshOptions): Promise<SshConnection> {
  maskSecret(options.privateKey);
  const key = parsePrivateKey(options.privateKey);
  const strict = options.strictHostKeyChecking ?? true;
  const entries = parseKnownHosts(options.knownHosts);
  const name = knownHostsName(options.host, options.port);
  const knownTypes = [
    ...new Set(
      entries
        .filter((entry) => entry.marker === undefined && hostFieldMatches(entry.hosts, name))
        .map((entry) => entry.keyType),
    ),
  ];
  if (!strict) {
    core.warning(
      `strict-host-key-checking is OFF for ${name}: a host that is not in known-hosts will be accepted WITHOUT verification, ` +
        'so anyone on the network path could impersonate it. Use this only to bootstrap, then pin the host key in known-hosts.',
    );
  }
  const serverHostKey = knownTypes.flatMap(algorithmsFor);
  if (knownTypes.length > 0 && serverHostKey.length === 0) {
    throw new UserError(
      `known-hosts holds only key types this client cannot verify for ${name} (${knownTypes.join(', ')}); add its ed25519, ecdsa or RSA host key.`,
    );
  }
  const attempts = Math.max(1, options.connectAttempts ?? 4);
  return withRetries(() => connectOnce(options, key, entries, strict, serverHostKey), {
    retries: attempts - 1,
    firstDelayMs: options.retryDelayMs ?? 1000,
    maxDelayMs: 8000,
    onRetry: (thrown, retry, delay) =>
      core.info(
        `SSH connect to ${name} failed (${messageOf(thrown)}); retry ${retry} of ${attempts - 1} in ${(delay / 1000).toFixed(1)} s.`,
      ),
    giveUp: (thrown, attempt, retryable) =>
      thrown instanceof UserError
        ? thrown
        : new UserError(
            `SSH connection to ${options.user}@${name} failed${retryable ? ` after ${attempt} attempts` : ''}: ${messageOf(thrown)}`,
          ),
  });
}

function connectOnce(
  options: SshOptions,
  key: ParsedKey,
  entries: KnownHostEntry[],
  strict: boolean,
  serverHostKey: string[],
): Promise<SshConnection> {
  const name = knownHostsName(options.host, options.port);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKeyFailure: UserError | undefined;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      client.end();
      client.destroy();
      reject(error);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      resolve(wrapConnection(client, name));
    });
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      if (hostKeyFailure) return fail(hostKeyFailure);
      if (error.level === 'client-authentication') {
        return fail(
          new SshAuthenticationError(
            `SSH authentication as "${options.user}" at ${name} failed: the server did not accept the key ` +
              `(${key.type} ${fingerprintOf(key.getPublicSSH())}). Check ssh-key, ssh-user and that the public key is in the user's authorized_keys.`,
          ),
        );
      }
      if (/no matching host key/i.test(error.message)) {
        return fail(
          new HostKeyMismatchError(
            `Host key verification failed for ${name}: the host offers none of the key types known-hosts holds for it ` +
              `(${serverHostKey.join(', ')}). Not retried.`,
          ),
        );
      }
      const retryable =
        error.level === 'client-socket' ||
        error.level === 'client-timeout' ||
        (error.code !== undefined && RETRYABLE_CODES.has(error.code)) ||
        /timed out|connection lost before handshake|ECONNRESET/i.test(error.message);
      const message = error.message || String(error.code);
      fail(retryable ? new TransientError(message) : new Error(message));
    });
    client.once('close', () => {
      if (hostKeyFailure) return fail(hostKeyFailure);
      fail(new TransientError('the connection closed during the handshake'));
    });
    const config: ConnectConfig = {
      host: options.host,
      port: options.port,
      username: options.user,
      privateKey: options.privateKey,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      tryKeyboard: false,
      hostVerifier: (presented: Buffer) => {
        const verdict = verifyHostKey(entries, options.host, options.port, presented, strict);
        if (!verdict.ok) {
          hostKeyFailure = verdict.error;
          return false;
        }
        if (!verdict.known) {
          core.warning(
            `UNVERIFIED host key accepted for ${name}: ${keyTypeOf(presented)} ${fingerprintOf(presented)} ` +
              '(strict-host-key-checking is false). Pin this key in known-hosts.',
          );
        } else {
          core.info(
            `Host key of ${name} verified: ${keyTypeOf(presented)} ${fingerprintOf(presented)}.`,
          );
        }
        return true;
      },
    };
    if (serverHostKey.length > 0) {
      config.algorithms = {
        serverHostKey: serverHostKey as NonNullable<ConnectConfig['algorithms']>['serverHostKey'],
      };
    }
    try {
      client.connect(config);
      // Each fleet request and exec is a short exchange of small packets: without TCP_NODELAY,
      // Nagle's algorithm and delayed ACKs add tens of milliseconds to every round trip.
      client.setNoDelay(true);
    } catch (thrown) {
      fail(new UserError(`SSH connection to ${name} cannot start: ${messageOf(thrown)}`));
    }
  });
}

function wrapConnection(client: Client, name: string): SshConnection {
  let lost: string | undefined;
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.on('error', (error: Error) => {
    lost = error.message;
    core.debug(`SSH connection to ${name}: ${error.message}`);
  });
  client.once('close', () => {
    closed = true;
  });
  const usable = (): void => {
    if (closed || lost) {
      throw new UserError(
        `The SSH connection to ${name} is ${lost ? `lost (${lost})` : 'closed'}.`,
      );
    }
  };
  const channel = (
    open: (callback: (error: Error | undefined, stream: ClientChannel) => void) => void,
    what: string,
  ) =>
    new Promise<ClientChannel>((resolve, reject) => {
      try {
        usable();
      } catch (error) {
        reject(error);
        return;
      }
      open((error, stream) => {
        if (error) reject(new UserError(`SSH ${what} on ${name} was refused: ${error.message}`));
        else resolve(stream);
      });
    });

  const forwards = new Set<() => Promise<void>>();

  return {
    async forwardLocalPort(remoteHost, remotePort) {
      usable();
      const sockets = new Set<net.Socket>();
      // Half-open allowed: a client that ends its request still gets the whole reply.
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
        client.forwardOut(
          '127.0.0.1',
          socket.remotePort ?? 0,
          remoteHost,
          remotePort,
          (error, stream) => {
            if (error) {
              core.warning(
                `SSH tunnel to ${remoteHost}:${remotePort} via ${name} refused a connection: ${error.message}`,
              );
              socket.destroy();
              return;
            }
            stream.on('error', () => socket.destroy());
            stream.once('close', () => socket.destroy());
            socket.once('close', () => stream.destroy());
            socket.pipe(stream).pipe(socket);
          },
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const { port } = server.address() as net.AddressInfo;
      const close = async (): Promise<void> => {
        forwards.delete(close);
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      };
      forwards.add(close);
      return { port, close };
    },

    openUnixSocket(socketPath) {
      return channel(
        (callback) => client.openssh_forwardOutStreamLocal(socketPath, callback),
        `streamlocal channel to ${socketPath}`,
      );
    },

    execStream(argv) {
      const command = remoteCommand(argv);
      return channel((callback) => client.exec(command, callback), `exec of "${argv[0]}"`);
    },

    exec(argv) {
      const command = remoteCommand(argv);
      return new Promise((resolve, reject) => {
        try {
          usable();
        } catch (error) {
          reject(error);
          return;
        }
        client.exec(command, (error, stream) => {
          if (error) {
            reject(
              new UserError(`SSH exec of "${argv[0]}" on ${name} was refused: ${error.message}`),
            );
            return;
          }
          // Listeners attached at once: the exit status may arrive in the same packet batch.
          const stdout: Buffer[] = [];
          const stderr: Buffer[] = [];
          let code: number | undefined;
          stream.on('data', (chunk: Buffer) => stdout.push(chunk));
          stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
          stream.on('exit', (exitCode: number | null, signal?: string) => {
            code = exitCode ?? (signal ? 128 : 255);
          });
          stream.on('error', (streamError: Error) =>
            reject(new UserError(`SSH exec on ${name}: ${streamError.message}`)),
          );
          stream.once('close', () => {
            if (code === undefined && (closed || lost)) {
              reject(
                new UserError(`The SSH connection to ${name} was lost while running "${argv[0]}".`),
              );
              return;
            }
            resolve({
              code: code ?? 255,
              stdout: Buffer.concat(stdout).toString(),
              stderr: Buffer.concat(stderr).toString(),
            });
          });
        });
      });
    },

    async close() {
      for (const close of [...forwards]) await close();
      if (!closed) {
        client.end();
        const timer = setTimeout(() => client.destroy(), 3000);
        await closedPromise;
        clearTimeout(timer);
      }
    },
  };
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
