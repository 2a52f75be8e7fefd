import * as core from '../../core/src/runner.js';
import { UserError, messageOf } from '../../core/src/errors.js';
import { parseHostPort, type HostPort } from '../../core/src/host-port.js';
import { connectSsh } from '../../core/src/ssh-connect.js';
import type { SshTunnel } from './inputs.js';

export interface Tunnel {
  /** `127.0.0.1:PORT` on this machine, forwarded to the registry. */
  address: string;
  /** Why the SSH connection broke, once it did (keepalives unanswered, reset ...). */
  lostReason(): string | undefined;
  close(): Promise<void>;
}

/** The host and port of a registry address (`host[:port]`, `[v6]:port`); default 443 or 80. */
export function registryHostPort(registry: string, plainHttp: boolean): HostPort {
  try {
    return parseHostPort(registry, plainHttp ? 80 : 443);
  } catch {
    throw new UserError(`The registry "${registry}" is not host[:port].`);
  }
}

/**
 * The push's failure, saying first that the tunnel under it was lost when it was (the registry
 * client only saw its connections reset or refused). The tunnel is not made again: the failure
 * names what the registry holds, and a rerun pushes only what is missing.
 */
export function failureThroughTunnel(tunnel: Tunnel | undefined, failure: unknown): unknown {
  const lost = tunnel?.lostReason();
  if (!lost) return failure;
  return new UserError(`The SSH tunnel to the registry was lost (${lost}): ${messageOf(failure)}`);
}

/**
 * Opens an SSH connection (host key verified against known-hosts) and forwards a local port to
 * the registry's address as the SSH host sees it (the core SSH library does both).
 */
export async function openTunnel(
  ssh: SshTunnel,
  registry: string,
  plainHttp: boolean,
): Promise<Tunnel> {
  const target = registryHostPort(registry, plainHttp);
  core.info(`ssh ${ssh.user}@${ssh.host}:${ssh.port}, forwarding to ${target.host}:${target.port}`);
  const connection = await connectSsh(ssh);
  try {
    const forward = await connection.forwardLocalPort(target.host, target.port);
    core.info(`the registry ${registry} is reached at 127.0.0.1:${forward.port}`);
    return {
      address: `127.0.0.1:${forward.port}`,
      lostReason: () => connection.lostReason(),
      close: async () => {
        await forward.close();
        await connection.close();
      },
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
