import * as core from '../../core/src/runner.js';
import type { Duplex } from 'node:stream';
import { UserError, messageOf } from '../../core/src/errors.js';
import type { StreamOpener } from './fleet.js';
import type { MasterLink } from './link.js';

/**
 * The two ways to the fleet socket over one SSH connection (docs/dev/fleet-api.md):
 * - `fd-forward`: an exec session running `fleetctl fd-forward SOCK` on the host, whose
 *   stdin/stdout carry the HTTP connection (what fleetctl --tunnel does);
 * - `streamlocal`: OpenSSH's direct-streamlocal@openssh.com channel straight to the socket (no
 *   fleetctl needed on the host).
 * `auto` tries streamlocal and falls back to fd-forward when the server refuses the channel.
 */
export type TunnelMode = 'auto' | 'fd-forward' | 'streamlocal';

/** The argv of the fd-forward session. */
export function fdForwardArgv(socketPath: string): string[] {
  return ['fleetctl', 'fd-forward', socketPath];
}

/** A link that reconnects within a deadline, or a plain connection (which does not). */
type Connection = Pick<MasterLink, 'openUnixSocket' | 'execStream'>;

function fdForwardOpener(connection: Connection, socketPath: string): StreamOpener {
  return async (deadline) => {
    const stream = await connection.execStream(fdForwardArgv(socketPath), deadline);
    const stderr: Buffer[] = [];
    const channel = stream as Duplex & { stderr?: NodeJS.ReadableStream };
    channel.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    Object.assign(stream, {
      failureNote: () => {
        const text = Buffer.concat(stderr).toString().trim();
        return text
          ? `fleetctl fd-forward on the host said: ${text.split('\n').slice(-3).join(' / ')}`
          : '';
      },
    });
    return stream;
  };
}

function streamlocalOpener(connection: Connection, socketPath: string): StreamOpener {
  return (deadline) => connection.openUnixSocket(socketPath, deadline);
}

/** Chooses the way to the fleet socket; `auto` probes streamlocal once. */
export async function fleetStreamOpener(
  connection: Connection,
  socketPath: string,
  mode: TunnelMode,
): Promise<{ open: StreamOpener; mode: Exclude<TunnelMode, 'auto'> }> {
  if (mode === 'fd-forward') return { open: fdForwardOpener(connection, socketPath), mode };
  if (mode === 'streamlocal') return { open: streamlocalOpener(connection, socketPath), mode };
  try {
    const probe = await connection.openUnixSocket(socketPath);
    probe.destroy();
    core.info(`tunnel-mode auto: using streamlocal (direct-streamlocal channel to ${socketPath}).`);
    return { open: streamlocalOpener(connection, socketPath), mode: 'streamlocal' };
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    core.info(
      `tunnel-mode auto: the host refused a streamlocal channel to ${socketPath} (${messageOf(error)}); using fd-forward (fleetctl fd-forward on the host).`,
    );
    return { open: fdForwardOpener(connection, socketPath), mode: 'fd-forward' };
  }
}
