import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from './errors.js';
import { execQuiet } from './exec.js';
import { makePrivateTempDir } from './files.js';

/**
 * Private GnuPG homes and the armored keys that go into them (docs/dev/signing.md). A home is
 * made under the system temp dir, not RUNNER_TEMP: gpg-agent's socket lives in it, and a Unix
 * socket path may not be longer than 107 bytes.
 */

const PUBLIC_BLOCK =
  /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]+?-----END PGP PUBLIC KEY BLOCK-----/g;
const PRIVATE_BLOCK =
  /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]+?-----END PGP PRIVATE KEY BLOCK-----/g;

/** `text` holds armored public key blocks and nothing else (a private key never). */
export function checkArmoredPublicKeys(input: string, text: string): void {
  if (text.includes('PRIVATE KEY BLOCK')) {
    throw new InputError(
      input,
      'holds a private key; give only public keys (gpg --armor --export).',
    );
  }
  const blocks = text.match(PUBLIC_BLOCK) ?? [];
  if (blocks.length === 0 || text.replace(PUBLIC_BLOCK, '').trim() !== '') {
    throw new InputError(
      input,
      'give one or more armored public key blocks (-----BEGIN PGP PUBLIC KEY BLOCK----- … as gpg --armor --export writes them) and nothing else.',
    );
  }
}

/** `text` is one armored private key block (as `gpg --armor --export-secret-keys` writes it). */
export function checkArmoredPrivateKey(input: string, text: string): void {
  const blocks = text.match(PRIVATE_BLOCK) ?? [];
  if (blocks.length !== 1 || text.replace(PRIVATE_BLOCK, '').trim() !== '') {
    throw new InputError(
      input,
      'give one armored private key block (-----BEGIN PGP PRIVATE KEY BLOCK----- … as gpg --armor --export-secret-keys KEYID writes it) and nothing else.',
    );
  }
}

/** Stops every daemon gpg started for `home` (gpg-agent above all) and removes the home. */
export async function removeGnupgHome(home: string): Promise<void> {
  await execQuiet('gpgconf', ['--homedir', home, '--kill', 'all'], {
    silent: true,
    allowFailure: true,
  }).catch(() => undefined);
  await fs.rm(home, { recursive: true, force: true });
}

/** Hooks for a step that must clean a home up after a cancelled run (its post step). */
export interface GnupgHomeTracking {
  made(home: string): void;
  removed(): void;
}

/** Runs `work` with a new private GnuPG home, removed with its agent afterwards, whatever happens. */
export async function withGnupgHome<T>(
  prefix: string,
  work: (home: string) => Promise<T>,
  tracking?: GnupgHomeTracking,
): Promise<T> {
  const home = await makePrivateTempDir(prefix, os.tmpdir());
  tracking?.made(home);
  try {
    return await work(home);
  } finally {
    await removeGnupgHome(home);
    tracking?.removed();
  }
}

/** A key of an armored block: its primary key's fingerprint and first user id. */
export interface OpenPgpKey {
  fingerprint: string;
  userId: string;
}

/**
 * The keys an armored block holds, read without importing them (`gpg --show-keys`), or those of
 * the home's keyring when `armoredFile` is undefined (`kind` says which keyring).
 */
export async function listKeys(
  home: string,
  kind: 'public' | 'secret',
  armoredFile?: string,
): Promise<OpenPgpKey[]> {
  const list = kind === 'secret' ? '--list-secret-keys' : '--list-keys';
  const args = armoredFile ? ['--show-keys', armoredFile] : [list];
  const result = await execQuiet('gpg', ['--homedir', home, '--batch', '--with-colons', ...args], {
    silent: true,
    missingHint: 'install the Debian package gnupg',
  });
  return parseColonKeys(result.stdout);
}

/** `gpg --with-colons` listing → keys (pure). A primary key is a `pub`/`sec` record. */
export function parseColonKeys(listing: string): OpenPgpKey[] {
  const keys: OpenPgpKey[] = [];
  let current: OpenPgpKey | undefined;
  let expectPrimaryFingerprint = false;
  for (const line of listing.split('\n')) {
    const fields = line.split(':');
    const type = fields[0];
    if (type === 'pub' || type === 'sec') {
      current = { fingerprint: '', userId: '' };
      keys.push(current);
      expectPrimaryFingerprint = true;
    } else if (type === 'sub' || type === 'ssb') {
      expectPrimaryFingerprint = false;
    } else if (type === 'fpr' && current && expectPrimaryFingerprint) {
      current.fingerprint = fields[9] ?? '';
      expectPrimaryFingerprint = false;
    } else if (type === 'uid' && current && current.userId === '') {
      current.userId = unescapeColonField(fields[9] ?? '');
    }
  }
  return keys.filter((key) => key.fingerprint !== '');
}

/** gpg escapes `:` and other bytes in colon listings as `\xHH`. */
function unescapeColonField(field: string): string {
  return field.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/** Writes armored key text into `dir` for gpg to read; gives the file. */
export async function writeKeyFile(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
  return file;
}
