import * as core from './runner.js';
import { InputError } from './errors.js';
import { hasPort, hostPortInput } from './host-port.js';
import type { InputReader } from './inputs.js';
import type { SshOptions } from './ssh-connect.js';

/** Where an action's SSH inputs are, by name, and why they are required. */
export interface SshInputNames {
  /** The host input, `host[:port]`. */
  host: string;
  /** A separate port input kept for old workflows: accepted with a deprecation warning. */
  deprecatedPort?: string;
  /** The input that turns off strict host-key checking, where the action has one. */
  strictHostKeyChecking?: string;
  /** Said after "is required" when the SSH inputs are required only in some case. */
  requiredWhen?: string;
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** The one reader of SSH inputs: host[:port], ssh-user, ssh-key (masked), known-hosts. */
export function readSshInputs(
  read: InputReader,
  names: SshInputNames,
): Omit<SshOptions, 'connectAttempts' | 'readyTimeoutMs' | 'retryDelayMs'> {
  const when = names.requiredWhen ? ` ${names.requiredWhen}` : '';
  const hostText = read.optional(names.host);
  if (hostText === undefined) throw new InputError(names.host, `is required${when}.`);
  const { host, port: hostPort } = hostPortInput(names.host, hostText, 22);
  let port = hostPort;
  const portText = names.deprecatedPort ? read.optional(names.deprecatedPort) : undefined;
  if (names.deprecatedPort && portText !== undefined) {
    if (hasPort(hostText)) {
      throw new InputError(
        names.deprecatedPort,
        `is given and ${names.host} has a port too; write the port in ${names.host} only.`,
      );
    }
    core.warning(
      `Input "${names.deprecatedPort}" is deprecated: write ${names.host}: host:${portText}.`,
    );
    port = read.integer(names.deprecatedPort, { min: 1, max: 65535 });
  }
  const user = read.optional('ssh-user');
  if (user === undefined) throw new InputError('ssh-user', `is required${when}.`);
  if (!USER_NAME.test(user)) throw new InputError('ssh-user', `"${user}" is not a user name.`);
  const privateKey = read.secret('ssh-key');
  if (privateKey === undefined) {
    throw new InputError(
      'ssh-key',
      `is required${when}: the private key text itself (from a secret).`,
    );
  }
  const strict = names.strictHostKeyChecking ? read.boolean(names.strictHostKeyChecking) : true;
  const knownHosts = read.optional('known-hosts');
  if (knownHosts === undefined && strict) {
    throw new InputError(
      'known-hosts',
      `is required${when}: the host's known_hosts lines (e.g. "[${host}]:${port} ssh-ed25519 AAAA..."), so its key can be verified.`,
    );
  }
  return {
    host,
    port,
    user,
    privateKey,
    knownHosts: knownHosts ?? '',
    strictHostKeyChecking: strict,
  };
}
