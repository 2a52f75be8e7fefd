import * as core from './runner.js';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { UserError, messageOf } from './errors.js';

/**
 * How many keepalives in a row may go unanswered; the next period declares the connection lost
 * (ssh2's keepaliveCountMax). See SSH_KEEPALIVE_INTERVAL_MS in ssh-connect.ts.
 */
export const KEEPALIVE_COUNT_MAX = 3;

/** An open, authenticated SSH connection: commands, a local port forward, unix sockets. */
export interface SshConnection {
  /** 127.0.0.1:<ephemeral> on this machine, forwarded (direct-tcpip) to remoteHost:remotePort. */
  forwardLocalPort(
    remoteHost: string,
    remotePort: number,
  ): Promise<{ port: number; close(): Promise<void> }>;
  /** A direct-tcpip channel to remoteHost:remotePort as the host sees it. */
  openTcpStream(remoteHost: string, remotePort: number): Promise<Duplex>;
  /** OpenSSH direct-streamlocal@openssh.com channel to a unix socket on the host. */
  openUnixSocket(socketPath: string): Promise<Duplex>;
  /** An exec session running argv (each argument single-quoted for the remote shell). */
  execStream(argv: string[]): Promise<Duplex>;
  exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Why the connection broke, once it did (undefined while it works). */
  lostReason(): string | undefined;
  close(): Promise<void>;
}

/**
 * The connection was already closed or lost when a call was made: nothing was sent, so a caller
 * that reconnects may make the same call again.
 */
export class SshConnectionLostError extends UserError {
  override name = 'SshConnectionLostError';
}

/** One argument quoted for a POSIX shell: 'text', with ' written as '\''. */
export function shellQuote(argument: string): string {
  return `'${argument.replace(/'/g, `'\\''`)}'`;
}

/** The remote command line for argv: every argument single-quoted (never a shell string). */
export function remoteCommand(argv: string[]): string {
  if (argv.length === 0) throw new Error('remoteCommand: empty argv');
  return argv.map(shellQuote).join(' ');
}

/** What the parts of one wrapped connection share. */
interface Link {
  client: Client;
  /** The host as known_hosts names it, for messages. */
  name: string;
  /** Why the connection broke, once it did. */
  lost?: string;
  closed: boolean;
  /** The close of each open port forward. */
  forwards: Set<() => Promise<void>>;
}

type ChannelOpener = (callback: (error: Error | undefined, stream: ClientChannel) => void) => void;

/**
 * The SshConnection over a client whose handshake and authentication succeeded; `keepaliveMs`
 * is the keepalive period it was configured with (SSH_KEEPALIVE_COUNT_MAX unanswered ones lose it).
 */
export function wrapConnection(client: Client, name: string, keepaliveMs: number): SshConnection {
  const link: Link = { client, name, closed: false, forwards: new Set() };
  const closedPromise = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.on('error', (error: Error) => {
    if (link.lost) return;
    link.lost =
      error.message === 'Keepalive timeout'
        ? `no answer from the host for ${formatSeconds((KEEPALIVE_COUNT_MAX + 1) * keepaliveMs)} (${KEEPALIVE_COUNT_MAX} keepalives unanswered): the network path or the host is gone`
        : error.message;
    // Said when it happens: a tunnel's users only see their own connections fail.
    if (!link.closed) core.warning(`The SSH connection to ${name} is lost: ${link.lost}.`);
  });
  client.once('close', () => {
    link.closed = true;
  });
  return {
    forwardLocalPort: async (remoteHost, remotePort) => {
      checkUsable(link);
      const forward = await serveLocalPort(
        () => openTcpStream(link, remoteHost, remotePort),
        `${remoteHost}:${remotePort} via ${link.name}`,
      );
      const close = async (): Promise<void> => {
        link.forwards.delete(close);
        await forward.close();
      };
      link.forwards.add(close);
      return { port: forward.port, close };
    },
    openTcpStream: (remoteHost, remotePort) => openTcpStream(link, remoteHost, remotePort),
    openUnixSocket: (socketPath) =>
      openChannel(
        link,
        (callback) => client.openssh_forwardOutStreamLocal(socketPath, callback),
        `streamlocal channel to ${socketPath}`,
      ),
    execStream: (argv) => {
      const command = remoteCommand(argv);
      return openChannel(
        link,
        (callback) => client.exec(command, callback),
        `exec of "${argv[0]}"`,
      );
    },
    exec: (argv) => exec(link, argv),
    lostReason: () => link.lost,
    close: () => closeLink(link, closedPromise),
  };
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function checkUsable(link: Link): void {
  if (link.closed || link.lost) {
    throw new SshConnectionLostError(
      `The SSH connection to ${link.name} is ${link.lost ? `lost (${link.lost})` : 'closed'}.`,
    );
  }
}

function openChannel(link: Link, open: ChannelOpener, what: string): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    try {
      checkUsable(link);
    } catch (error) {
      reject(error);
      return;
    }
    open((error, stream) => {
      if (error) reject(new UserError(`SSH ${what} on ${link.name} was refused: ${error.message}`));
      else resolve(stream);
    });
  });
}

function openTcpStream(link: Link, remoteHost: string, remotePort: number): Promise<Duplex> {
  return openChannel(
    link,
    (callback) => link.client.forwardOut('127.0.0.1', 0, remoteHost, remotePort, callback),
    `direct-tcpip channel to ${remoteHost}:${remotePort}`,
  );
}

/**
 * A port on 127.0.0.1 whose every connection is carried through a stream `open` gives (an SSH
 * channel), e.g. for an HTTP client that needs a host and port. `what` names it in warnings.
 */
export async function serveLocalPort(
  open: () => Promise<Duplex>,
  what: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  // Half-open allowed: a client that ends its request still gets the whole reply.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    open().then(
      (stream) => {
        stream.on('error', () => socket.destroy());
        stream.once('close', () => socket.destroy());
        socket.once('close', () => stream.destroy());
        socket.pipe(stream).pipe(socket);
      },
      (error: unknown) => {
        core.warning(`SSH tunnel to ${what} refused a connection: ${messageOf(error)}`);
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, close };
}

function exec(
  link: Link,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = remoteCommand(argv);
  return new Promise((resolve, reject) => {
    try {
      checkUsable(link);
    } catch (error) {
      reject(error);
      return;
    }
    link.client.exec(command, (error, stream) => {
      if (error) {
        reject(
          new UserError(`SSH exec of "${argv[0]}" on ${link.name} was refused: ${error.message}`),
        );
        return;
      }
      collectExecResult(link, stream, argv).then(resolve, reject);
    });
  });
}

/** The exit code and output of an exec session; listeners attach at once, when called. */
function collectExecResult(
  link: Link,
  stream: ClientChannel,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Attached synchronously: the exit status may arrive in the same packet batch.
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let code: number | undefined;
    stream.on('data', (chunk: Buffer) => stdout.push(chunk));
    stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    stream.on('exit', (exitCode: number | null, signal?: string) => {
      code = exitCode ?? (signal ? 128 : 255);
    });
    stream.on('error', (streamError: Error) =>
      reject(new UserError(`SSH exec on ${link.name}: ${streamError.message}`)),
    );
    stream.once('close', () => {
      if (code === undefined && (link.closed || link.lost)) {
        reject(
          new UserError(`The SSH connection to ${link.name} was lost while running "${argv[0]}".`),
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
}

async function closeLink(link: Link, closedPromise: Promise<void>): Promise<void> {
  for (const close of [...link.forwards]) await close();
  if (!link.closed) {
    link.client.end();
    const timer = setTimeout(() => link.client.destroy(), 3000);
    await closedPromise;
    clearTimeout(timer);
  }
}
