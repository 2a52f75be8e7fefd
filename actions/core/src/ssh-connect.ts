import './esm-globals.js';
import * as core from './runner.js';
// ssh2 is CommonJS: Node's ESM loader (plain node, tsx, @github/local-action) gives it a default
// export only, so its parts are taken from that rather than imported by name.
import ssh2, { type ConnectConfig, type ParsedKey } from 'ssh2';
import { UserError, messageOf } from './errors.js';
import { maskSecret } from './inputs.js';
import { TransientError, withRetries } from './retry.js';
import { KEEPALIVE_COUNT_MAX, wrapConnection, type SshConnection } from './ssh-connection.js';
import { fingerprintOf, keyTypeOf } from './ssh-key-blobs.js';
import {
  HostKeyMismatchError,
  hostFieldMatches,
  knownHostsName,
  parseKnownHosts,
  verifyHostKey,
  type KnownHostEntry,
} from './ssh-known-hosts.js';

const { Client, utils } = ssh2;

/**
 * Connecting over SSH, for import-image (registry tunnel) and deploy-fleet (fleet API tunnel).
 *
 * Pure JavaScript on the `ssh2` package, in-process: the private key is held in memory only
 * (masked in the log, never written to disk). The host key is always checked against the
 * known_hosts lines the caller hands in; a mismatch fails at once with both SHA256 fingerprints
 * and is never retried. Connecting is retried with backoff, a bounded number of times, for
 * network errors only.
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
  /** Epoch milliseconds after which no further attempt starts (default: none). */
  deadline?: number;
  /** Keepalive period (default SSH_KEEPALIVE_INTERVAL_MS, or ARCH_CORE_SSH_KEEPALIVE_MS). */
  keepaliveIntervalMs?: number;
}

/**
 * A connection whose host answers none of KEEPALIVE_COUNT_MAX keepalives sent one
 * SSH_KEEPALIVE_INTERVAL_MS apart is declared lost one period after the last of them: 60 s after
 * the last answer, so 45 to 60 s after a path that drops packets silently (no RST) went dead.
 * OpenSSH's ServerAliveCountMax default is the same 3.
 */
export const SSH_KEEPALIVE_INTERVAL_MS = 15_000;

/** The keepalive period: the option, else ARCH_CORE_SSH_KEEPALIVE_MS (for tests), else 15 s. */
export function keepaliveIntervalMs(options: Pick<SshOptions, 'keepaliveIntervalMs'>): number {
  if (options.keepaliveIntervalMs !== undefined) return options.keepaliveIntervalMs;
  const text = process.env.ARCH_CORE_SSH_KEEPALIVE_MS?.trim();
  if (!text) return SSH_KEEPALIVE_INTERVAL_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 100) {
    throw new UserError(
      `ARCH_CORE_SSH_KEEPALIVE_MS "${text}" is not a number of milliseconds >= 100.`,
    );
  }
  return ms;
}

/** The server refused the key. */
export class SshAuthenticationError extends UserError {
  override name = 'SshAuthenticationError';
}

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

/** What one connect attempt needs besides the options: all of it checked once, up front. */
interface ConnectPlan {
  options: SshOptions;
  /** The host as known_hosts names it. */
  name: string;
  key: ParsedKey;
  entries: KnownHostEntry[];
  strict: boolean;
  /** The host key algorithms to offer; empty lets ssh2 offer all it has. */
  serverHostKey: string[];
  keepaliveMs: number;
}

/** Connects, verifies the host key, authenticates with the key. */
export async function connectSsh(options: SshOptions): Promise<SshConnection> {
  maskSecret(options.privateKey);
  const key = parsePrivateKey(options.privateKey);
  const strict = options.strictHostKeyChecking ?? true;
  const entries = parseKnownHosts(options.knownHosts);
  const name = knownHostsName(options.host, options.port);
  if (!strict) {
    core.warning(
      `strict-host-key-checking is OFF for ${name}: a host that is not in known-hosts will be accepted WITHOUT verification, ` +
        'so anyone on the network path could impersonate it. Use this only to bootstrap, then pin the host key in known-hosts.',
    );
  }
  const serverHostKey = hostKeyAlgorithms(entries, name);
  const keepaliveMs = keepaliveIntervalMs(options);
  const plan: ConnectPlan = { options, name, key, entries, strict, serverHostKey, keepaliveMs };
  const attempts = Math.max(1, options.connectAttempts ?? 4);
  return withRetries(() => connectOnce(plan), {
    retries: attempts - 1,
    deadline: options.deadline,
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

/**
 * The host key algorithms for the key types known-hosts holds for `name`, so the host presents
 * a key that can be checked; empty when it holds none (the host is unknown).
 */
function hostKeyAlgorithms(entries: KnownHostEntry[], name: string): string[] {
  const knownTypes = [
    ...new Set(
      entries
        .filter((entry) => entry.marker === undefined && hostFieldMatches(entry.hosts, name))
        .map((entry) => entry.keyType),
    ),
  ];
  const algorithms = knownTypes.flatMap(algorithmsFor);
  if (knownTypes.length > 0 && algorithms.length === 0) {
    throw new UserError(
      `known-hosts holds only key types this client cannot verify for ${name} (${knownTypes.join(', ')}); add its ed25519, ecdsa or RSA host key.`,
    );
  }
  return algorithms;
}

/** The host key algorithms ssh2 may negotiate for a known key type. */
function algorithmsFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (keyType === 'ssh-ed25519' || keyType.startsWith('ecdsa-sha2-nistp')) return [keyType];
  return [];
}

/** One connection attempt; a network failure rejects with a TransientError. */
function connectOnce(plan: ConnectPlan): Promise<SshConnection> {
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
      resolve(wrapConnection(client, plan.name, plan.keepaliveMs));
    });
    client.on('error', (error: ClientError) => fail(hostKeyFailure ?? attemptFailure(plan, error)));
    client.once('close', () => {
      if (hostKeyFailure) return fail(hostKeyFailure);
      fail(new TransientError('the connection closed during the handshake'));
    });
    const config = connectConfig(plan, (failure) => {
      hostKeyFailure = failure;
    });
    try {
      client.connect(config);
      // Each fleet request and exec is a short exchange of small packets: without TCP_NODELAY,
      // Nagle's algorithm and delayed ACKs add tens of milliseconds to every round trip.
      client.setNoDelay(true);
    } catch (thrown) {
      fail(new UserError(`SSH connection to ${plan.name} cannot start: ${messageOf(thrown)}`));
    }
  });
}

type ClientError = Error & { level?: string; code?: string };

/** What a client error during the handshake means: refused key or host, or worth a retry. */
function attemptFailure(plan: ConnectPlan, error: ClientError): Error {
  const { options, name, key } = plan;
  if (error.level === 'client-authentication') {
    return new SshAuthenticationError(
      `SSH authentication as "${options.user}" at ${name} failed: the server did not accept the key ` +
        `(${key.type} ${fingerprintOf(key.getPublicSSH())}). Check ssh-key, ssh-user and that the public key is in the user's authorized_keys.`,
    );
  }
  if (/no matching host key/i.test(error.message)) {
    return new HostKeyMismatchError(
      `Host key verification failed for ${name}: the host offers none of the key types known-hosts holds for it ` +
        `(${plan.serverHostKey.join(', ')}). Not retried.`,
    );
  }
  const retryable =
    error.level === 'client-socket' ||
    error.level === 'client-timeout' ||
    (error.code !== undefined && RETRYABLE_CODES.has(error.code)) ||
    /timed out|connection lost before handshake|ECONNRESET/i.test(error.message);
  const message = error.message || String(error.code);
  return retryable ? new TransientError(message) : new Error(message);
}

/** ssh2's settings for one attempt; a refused host key is handed to `onHostKeyFailure`. */
function connectConfig(
  plan: ConnectPlan,
  onHostKeyFailure: (failure: UserError) => void,
): ConnectConfig {
  const { options, name } = plan;
  const config: ConnectConfig = {
    host: options.host,
    port: options.port,
    username: options.user,
    privateKey: options.privateKey,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    keepaliveInterval: plan.keepaliveMs,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    tryKeyboard: false,
    hostVerifier: (presented: Buffer) => {
      const verdict = verifyHostKey(
        plan.entries,
        options.host,
        options.port,
        presented,
        plan.strict,
      );
      if (!verdict.ok) {
        onHostKeyFailure(verdict.error);
        return false;
      }
      const presentedText = `${keyTypeOf(presented)} ${fingerprintOf(presented)}`;
      if (!verdict.known) {
        core.warning(
          `UNVERIFIED host key accepted for ${name}: ${presentedText} ` +
            '(strict-host-key-checking is false). Pin this key in known-hosts.',
        );
      } else {
        core.info(`Host key of ${name} verified: ${presentedText}.`);
      }
      return true;
    },
  };
  if (plan.serverHostKey.length > 0) {
    config.algorithms = {
      serverHostKey: plan.serverHostKey as NonNullable<
        ConnectConfig['algorithms']
      >['serverHostKey'],
    };
  }
  return config;
}
