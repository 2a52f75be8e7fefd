import * as core from '../../core/src/runner.js';
import type { Duplex } from 'node:stream';
import { messageOf } from '../../core/src/errors.js';
import { connectSsh, type SshOptions } from '../../core/src/ssh-connect.js';
import {
  SshConnectionLostError,
  serveLocalPort,
  type SshConnection,
} from '../../core/src/ssh-connection.js';

/** How long one reconnect's handshake may take at most. */
const RECONNECT_READY_TIMEOUT_MS = 20_000;

/**
 * The SSH connection to the master for the whole step, surviving a drop: a call made after the
 * connection was closed or lost (SshConnectionLostError: nothing was sent) connects again through
 * the same connectSsh, so the host key is verified again against known-hosts, and is made on the
 * new connection. A call that was under way when the connection dropped fails as it did; its
 * caller decides whether to repeat it (the fleet client does, services do not).
 */
export class MasterLink implements SshConnection {
  /** How many times the connection was made again. */
  reconnects = 0;

  constructor(
    private readonly ssh: SshOptions,
    private current: SshConnection,
  ) {}

  /** A local port whose connections go through whichever connection is current (etcd's). */
  forwardLocalPort(
    remoteHost: string,
    remotePort: number,
  ): Promise<{ port: number; close(): Promise<void> }> {
    return serveLocalPort(
      () => this.openTcpStream(remoteHost, remotePort),
      `${remoteHost}:${remotePort} on the master`,
    );
  }

  openTcpStream(remoteHost: string, remotePort: number): Promise<Duplex> {
    return this.use((connection) => connection.openTcpStream(remoteHost, remotePort));
  }

  /** A streamlocal channel; `deadline` bounds a reconnect it needs first. */
  openUnixSocket(socketPath: string, deadline?: number): Promise<Duplex> {
    return this.use((connection) => connection.openUnixSocket(socketPath), deadline);
  }

  /** An exec session; `deadline` bounds a reconnect it needs first. */
  execStream(argv: string[], deadline?: number): Promise<Duplex> {
    return this.use((connection) => connection.execStream(argv), deadline);
  }

  exec(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.use((connection) => connection.exec(argv));
  }

  lostReason(): string | undefined {
    return this.current.lostReason();
  }

  close(): Promise<void> {
    return this.current.close();
  }

  private async use<T>(call: (connection: SshConnection) => Promise<T>, deadline?: number) {
    try {
      return await call(this.current);
    } catch (error) {
      if (!(error instanceof SshConnectionLostError)) throw error;
      await this.reconnect(messageOf(error), deadline);
      return call(this.current);
    }
  }

  private async reconnect(why: string, deadline?: number): Promise<void> {
    const where = `${this.ssh.user}@${this.ssh.host}:${this.ssh.port}`;
    core.warning(`${why} Connecting to ${where} again (host key verified again).`);
    const left = deadline === undefined ? RECONNECT_READY_TIMEOUT_MS : deadline - Date.now();
    const old = this.current;
    this.current = await connectSsh({
      ...this.ssh,
      deadline,
      readyTimeoutMs: Math.max(2_000, Math.min(RECONNECT_READY_TIMEOUT_MS, left)),
    });
    this.reconnects++;
    core.info(`Connected to ${where} again (reconnect ${this.reconnects}).`);
    await old.close().catch(() => undefined);
  }
}
