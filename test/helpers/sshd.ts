import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startService, waitForPort, type Service } from './process.js';

/**
 * A real OpenSSH server for tests: `/usr/sbin/sshd -D` (as root) on a free 127.0.0.1 port, with
 * its own host key, a test user whose key pair is made per server, a writable HOME of its own,
 * TCP and stream-local forwarding allowed, and a PATH for the user's sessions that starts with
 * `binDir`, where a test can put stand-in commands (fleetctl, sudo, systemctl, ...).
 */
export type SshKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface SshdOptions {
  /** The login user (created once as a system user if missing; default `archcore-ssh`). */
  user?: string;
  /** Type of the user's key pair (default ed25519). */
  userKeyType?: SshKeyType;
  /** Host key types the server offers (default ['ed25519']). */
  hostKeyTypes?: SshKeyType[];
  /** Directories put on the session PATH after binDir (before /usr/bin:/bin). */
  extraPath?: string[];
  /** Extra sshd_config lines (they win over the defaults). */
  config?: string[];
}

export interface Sshd {
  host: string;
  port: number;
  user: string;
  uid: number;
  gid: number;
  /** The user's private key (OpenSSH text) and public key line. */
  privateKey: string;
  publicKey: string;
  /** `[127.0.0.1]:PORT <type> <key>` lines, one per host key. */
  knownHosts: string;
  /** SHA256 fingerprints of the host keys, in hostKeyTypes order. */
  hostKeyFingerprints: string[];
  /** The session PATH's first directory (owned by root, readable by the user). */
  binDir: string;
  /** The user's HOME for these sessions (writable by the user). */
  home: string;
  /** A private directory for the test's own files. */
  dir: string;
  /** Generates another key pair (not authorized) — e.g. for a wrong-key test. */
  makeKeyPair(type?: SshKeyType): Promise<{ privateKey: string; publicKey: string }>;
  log(): string;
  stop(): Promise<void>;
}

const DEFAULT_USER = 'archcore-ssh';

function ensureUser(user: string): { uid: number; gid: number } {
  execFileSync('flock', [
    '/tmp/arch-core-sshd-user.lock',
    'sh',
    '-c',
    // A system user with a shell, an existing home (sessions start there; each server gives
    // its sessions a HOME of their own) and a usable (not locked: "*") password field, so that
    // sshd (UsePAM no) lets it in with a key.
    'id -u "$1" >/dev/null 2>&1 || { useradd --system --shell /bin/sh --home-dir "/var/lib/$1" --create-home "$1" && usermod -p "*" "$1"; }',
    'sh',
    user,
  ]);
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

async function keyPair(
  dir: string,
  name: string,
  type: SshKeyType,
): Promise<{ file: string; privateKey: string; publicKey: string }> {
  const file = path.join(dir, name);
  const bits = type === 'rsa' ? ['-b', '3072'] : type === 'ecdsa' ? ['-b', '256'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', name, '-f', file]);
  return {
    file,
    privateKey: await fs.readFile(file, 'utf8'),
    publicKey: (await fs.readFile(`${file}.pub`, 'utf8')).trim(),
  };
}

interface ServerDirs {
  dir: string;
  keysDir: string;
  binDir: string;
  home: string;
}

/** The server's private directory: keys, the stand-ins' bin dir and the sessions' HOME. */
async function makeServerDirs(uid: number, gid: number): Promise<ServerDirs> {
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'arch-core-sshd-'));
  // The user reads authorized_keys and runs the stand-ins in binDir: the dir must be passable.
  await fs.chmod(dir, 0o711);
  const keysDir = path.join(dir, 'keys');
  await fs.mkdir(keysDir, { mode: 0o700 });
  const binDir = path.join(dir, 'bin');
  await fs.mkdir(binDir, { mode: 0o755 });
  const home = path.join(dir, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  await fs.chown(home, uid, gid);
  return { dir, keysDir, binDir, home };
}

async function writeConfig(
  dirs: ServerDirs,
  options: SshdOptions,
  settings: { user: string; port: number; hostKeyFiles: string[]; authorizedKeys: string },
): Promise<string> {
  const sessionPath = [
    dirs.binDir,
    ...(options.extraPath ?? []),
    '/usr/local/bin',
    '/usr/bin',
    '/bin',
  ];
  const configFile = path.join(dirs.dir, 'sshd_config');
  await fs.writeFile(
    configFile,
    [
      // sshd keeps the first value of a keyword: the test's own lines win.
      ...(options.config ?? []),
      `Port ${settings.port}`,
      'ListenAddress 127.0.0.1',
      ...settings.hostKeyFiles.map((file) => `HostKey ${file}`),
      `PidFile ${path.join(dirs.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${settings.authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${settings.user}`,
      'AllowTcpForwarding yes',
      'AllowStreamLocalForwarding yes',
      'PrintMotd no',
      'LogLevel VERBOSE',
      `SetEnv PATH=${sessionPath.join(':')} HOME=${dirs.home}`,
      '',
    ].join('\n'),
  );
  return configFile;
}

/** known_hosts lines and SHA256 fingerprints of the host keys. */
async function hostKeyFacts(
  hostKeyFiles: string[],
  port: number,
): Promise<{ knownHosts: string; hostKeyFingerprints: string[] }> {
  const hostPublicLines = await Promise.all(
    hostKeyFiles.map(async (file) => (await fs.readFile(`${file}.pub`, 'utf8')).trim()),
  );
  const knownHosts = hostPublicLines
    .map((line) => {
      const [type, blob] = line.split(/\s+/);
      return `[127.0.0.1]:${port} ${type} ${blob}`;
    })
    .join('\n');
  const hostKeyFingerprints = hostKeyFiles.map(
    (file) =>
      execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`])
        .toString()
        .split(/\s+/)[1] as string,
  );
  return { knownHosts, hostKeyFingerprints };
}

/** Ends the sessions still open (children of the listener), then the listener; removes dir. */
async function stopServer(service: Service, dir: string): Promise<void> {
  const pid = service.child.pid;
  if (pid !== undefined && service.child.exitCode === null) {
    let children: string[] = [];
    try {
      children = execFileSync('pgrep', ['-P', String(pid)])
        .toString()
        .split(/\s+/);
    } catch {
      // no session open
    }
    for (const child of children.filter((text) => /^\d+$/.test(text))) {
      try {
        process.kill(Number(child), 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
  await service.stop();
  await fs.rm(dir, { recursive: true, force: true });
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const user = options.user ?? DEFAULT_USER;
  const { uid, gid } = ensureUser(user);
  const dirs = await makeServerDirs(uid, gid);
  const hostKeyFiles: string[] = [];
  for (const type of options.hostKeyTypes ?? ['ed25519']) {
    hostKeyFiles.push((await keyPair(dirs.keysDir, `host_${type}`, type)).file);
  }
  const userKey = await keyPair(dirs.keysDir, 'user', options.userKeyType ?? 'ed25519');
  const authorizedKeys = path.join(dirs.dir, 'authorized_keys');
  await fs.writeFile(authorizedKeys, `${userKey.publicKey}\n`, { mode: 0o644 });

  const port = await freePort();
  const configFile = await writeConfig(dirs, options, {
    user,
    port,
    hostKeyFiles,
    authorizedKeys,
  });
  const service: Service = startService('/usr/sbin/sshd', ['-D', '-e', '-f', configFile]);
  try {
    await waitForPort(port, 10_000);
  } catch (error) {
    await service.stop();
    throw new Error(`sshd did not start: ${(error as Error).message}\n${service.log()}`);
  }
  let extraKeys = 0;
  return {
    host: '127.0.0.1',
    port,
    user,
    uid,
    gid,
    privateKey: userKey.privateKey,
    publicKey: userKey.publicKey,
    ...(await hostKeyFacts(hostKeyFiles, port)),
    binDir: dirs.binDir,
    home: dirs.home,
    dir: dirs.dir,
    async makeKeyPair(type: SshKeyType = 'ed25519') {
      const { privateKey, publicKey } = await keyPair(dirs.keysDir, `other_${++extraKeys}`, type);
      return { privateKey, publicKey };
    },
    log: service.log,
    stop: () => stopServer(service, dirs.dir),
  };
}

/** import-image's inputs that push through an SSH tunnel to `sshd` (known_hosts its own unless given). */
export function sshTunnelInputs(sshd: Sshd, knownHosts = sshd.knownHosts): Record<string, string> {
  return {
    'ssh-tunnel': 'true',
    'ssh-host': sshd.host,
    'ssh-port': String(sshd.port),
    'ssh-user': sshd.user,
    'ssh-key': sshd.privateKey,
    'known-hosts': knownHosts,
  };
}
