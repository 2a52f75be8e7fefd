import * as core from '../../core/src/runner.js';
import { execQuiet } from '../../core/src/exec.js';
import { listKeys, withGnupgHome, writeKeyFile, type OpenPgpKey } from '../../core/src/gpg.js';
import { InputError } from '../../core/src/errors.js';
import type { PacmanRepo } from './pacman.js';

/**
 * keyring: pacman checks every package against the given public keys, in a keyring of the run's
 * own (pacman-key --init, --add, --lsign-key), removed with its gpg-agent afterwards
 * (docs/dev/signing.md).
 */

export interface Keyring {
  /** pacman's GPGDir. */
  gpgDir: string;
  keys: OpenPgpKey[];
}

/** Runs `work` with the keyring of `armoredKeys` (undefined without one). */
export function withKeyring<T>(
  armoredKeys: string | undefined,
  work: (keyring: Keyring | undefined) => Promise<T>,
): Promise<T> {
  if (armoredKeys === undefined) return work(undefined);
  return withGnupgHome('arch-core-keyring', async (home) =>
    work(
      await core.group('Keyring for the package signatures', () => makeKeyring(home, armoredKeys)),
    ),
  );
}

async function makeKeyring(home: string, armoredKeys: string): Promise<Keyring> {
  const file = await writeKeyFile(home, 'keyring.asc', armoredKeys);
  const pacmanKey = (args: string[]) =>
    execQuiet('pacman-key', ['--gpgdir', home, ...args], {
      silent: true,
      missingHint: 'install the Debian package pacman-package-manager (pacman-key)',
    });
  await pacmanKey(['--init']);
  const keys = await listKeys(home, 'public', file);
  if (keys.length === 0) throw new InputError('keyring', 'gpg found no key in it.');
  await pacmanKey(['--add', file]);
  for (const key of keys) {
    // A local signature by the keyring's own master key: pacman then trusts the key fully.
    await pacmanKey(['--lsign-key', key.fingerprint]);
    core.info(`trusted: ${key.fingerprint} ${key.userId}`);
  }
  return { gpgDir: home, keys };
}

/**
 * The repositories as pacman checks them against a keyring: every package and database signed
 * (`Required`), but for the repository this run makes of the package files, whose database is
 * its own and unsigned: there only the packages (`Required DatabaseOptional`).
 */
export function requireSignatures(repos: readonly PacmanRepo[], ownRepo: string): PacmanRepo[] {
  return repos.map((repo) => ({
    ...repo,
    sigLevel: repo.name === ownRepo ? 'Required DatabaseOptional' : 'Required',
  }));
}

const SIGNATURE_PROBLEMS: Array<[RegExp, (match: RegExpMatchArray) => string]> = [
  [
    /error: (\S+): signature from "(.*)" is invalid$/gm,
    (m) => `${m[1]}: its signature (by ${m[2]}) does not match it: changed after signing`,
  ],
  [/^error: (\S+): missing required signature$/gm, (m) => `${m[1]} is not signed`],
  [
    /error: failed retrieving file '(\S+?)\.sig' from/gm,
    (m) => `${m[1]} is not signed (no ${m[1]}.sig, none in its database)`,
  ],
  [
    /error: (\S+): key "(\S+)" is unknown$/gm,
    (m) => `${m[1]} is signed by ${m[2]}, a key not in keyring`,
  ],
  [
    // pacman names only the key here; the packages of the transaction are on its `Packages` line.
    /error: key "(\S+)" could not be looked up remotely$/gm,
    (m) => `one of the packages is signed by the key ${m[1]}, which is not in keyring`,
  ],
  [
    /error: (\S+): signature from "(.*)" is (unknown|marginal) trust$/gm,
    (m) => `${m[1]} is signed by ${m[2]}, whom keyring does not trust`,
  ],
  [
    /error: database '(\S+)' is not valid \((?:invalid or corrupted database \(PGP signature\)|missing required signature)\)$/gm,
    (m) => `the database of ${m[1]} is not signed by a key of keyring, or changed after signing`,
  ],
];

/** What pacman's output says about signatures it refused (pure): one line, or undefined. */
export function describeSignatureProblems(output: string): string | undefined {
  const found = SIGNATURE_PROBLEMS.flatMap(([pattern, describe]) =>
    [...output.matchAll(pattern)].map(describe),
  );
  if (found.length === 0) return undefined;
  const transaction = /^Packages \(\d+\)\s+(.+)$/m.exec(output)?.[1]?.trim().split(/\s+/);
  const among = transaction ? ` (installing ${transaction.join(', ')})` : '';
  return `${[...new Set(found)].join('; ')}${among}`;
}
