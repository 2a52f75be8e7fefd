import * as core from '../../core/src/runner.js';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { UserError } from '../../core/src/errors.js';
import { exists } from '../../core/src/files.js';
import { hold, held } from '../../core/src/post.js';
import { sleep } from '../../core/src/retry.js';

/** The state name of the private work directory (the layer, a Docker config). */
export const TEMPORARIES_STATE = 'temporaries';
/** The state name of the SSH tunnel to the registry. */
export const TUNNEL_STATE = 'tunnel';

interface HeldTunnel {
  /** The forwarded local address, 127.0.0.1:PORT. */
  address: string;
  /** The SSH host, user@host:port. */
  via: string;
  /** The tunnel runs inside the main step's process: its pid and command line. */
  pid: number;
  cmdline: string;
}

/** Records the open tunnel; it lives as long as this process does. */
export function holdTunnel(address: string, via: string): void {
  const tunnel: HeldTunnel = { address, via, pid: process.pid, cmdline: cmdlineOf('self') };
  hold(TUNNEL_STATE, tunnel);
}

function cmdlineOf(pid: number | 'self'): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** True while the main step's process (the same pid running the same command line) lives. */
function stillRunning(tunnel: HeldTunnel): boolean {
  return tunnel.cmdline !== '' && cmdlineOf(tunnel.pid) === tunnel.cmdline;
}

/**
 * The post step: after a cancelled or failed run, makes sure the SSH tunnel is closed (it ends
 * with the main step's process; one still running is sent SIGTERM) and removes the work
 * directory; after a clean run there is nothing to do. Fails naming exactly what is left.
 */
export async function post(): Promise<void> {
  const tunnel = held<HeldTunnel>(TUNNEL_STATE);
  const work = held<string>(TEMPORARIES_STATE);
  if (!tunnel && !work) {
    core.info('import-image post: the run released everything it held; nothing to clean up.');
    return;
  }
  const left: string[] = [];
  if (tunnel && !(await tunnelClosed(tunnel))) {
    left.push(`the tunnel ${tunnel.address} through ${tunnel.via} in process ${tunnel.pid}`);
  }
  if (work && !(await exists(work))) {
    // A failed run removes it on its way out without saying so in the state.
    core.info(`import-image post: the work directory ${work} is already gone`);
  } else if (work) {
    await fs.rm(work, { recursive: true, force: true }).catch((error: Error) => {
      core.warning(`rm -r ${work}: ${error.message}`);
    });
    if (await exists(work)) left.push(`the work directory ${work}`);
    else core.info(`import-image post: removed the work directory ${work}`);
  }
  if (left.length > 0) throw new UserError(`Left behind: ${left.join('; ')}.`);
  core.info('import-image post: nothing the run held is left.');
}

async function tunnelClosed(tunnel: HeldTunnel): Promise<boolean> {
  const what = `the tunnel ${tunnel.address} through ${tunnel.via}`;
  if (stillRunning(tunnel)) {
    core.warning(`${what}: the main step's process ${tunnel.pid} still runs; sending SIGTERM.`);
    process.kill(tunnel.pid, 'SIGTERM');
    for (let waited = 0; waited < 5000 && stillRunning(tunnel); waited += 100) await sleep(100);
    if (stillRunning(tunnel)) return false;
  }
  core.info(`import-image post: ${what} is closed (the process that held it has ended).`);
  return true;
}
