import * as core from '@actions/core';
import { UserError } from '../../core/src/errors.js';
import { connectSsh } from '../../core/src/ssh.js';
import type { Inputs } from './inputs.js';

export interface Tunnel {
  /** `127.0.0.1:PORT` on this machine, forwarded to the registry. */
  address: string;
  close(): Promise<void>;
}

/** The host and port of a registry address (`host[:port]`, `[v6]:port`); default 443 or 80. */
export function registryHostPort(
  registry: string,
  plainHttp: boolean,
): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(registry);
  if (!match) throw new UserError(`The registry "${registry}" is not host[:port].`);
  const host = (match[1] as string).replace(/^\[|\]$/g, '');
  return { host, port: match[2] ? Number(match[2]) : plainHttp ? 80 : 443 };
}

/**
 * Opens an SSH connection (host key verified against known-hosts) and forwards a local port to
 * the registry's address as the SSH host sees it (the core SSH library does both).
 */
export async function openTunnel(
  ssh: NonNullable<Inputs['sshTunnel']>,
  registry: string,
  plainHttp: boolean,
): Promise<Tunnel> {
  const target = registryHostPort(registry, plainHttp);
  core.info(`ssh ${ssh.user}@${ssh.host}:${ssh.port}, forwarding to ${target.host}:${target.port}`);
  const connection = await connectSsh({
    host: ssh.host,
    port: ssh.port,
    user: ssh.user,
    privateKey: ssh.key,
    knownHosts: ssh.knownHosts,
  });
  try {
    const forward = await connection.forwardLocalPort(target.host, target.port);
    core.info(`the registry ${registry} is reached at 127.0.0.1:${forward.port}`);
    return {
      address: `127.0.0.1:${forward.port}`,
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
