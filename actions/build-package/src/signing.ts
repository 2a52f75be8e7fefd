import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import { InputError, UserError } from '../../core/src/errors.js';
import { execQuiet, tailOf } from '../../core/src/exec.js';
import { listKeys, withGnupgHome, writeKeyFile, type OpenPgpKey } from '../../core/src/gpg.js';
import { hold, release } from '../../core/src/post.js';

/**
 * gpg-key: the packages and the repository database signed on the host, after makepkg, in a
 * GnuPG home of this run's (docs/dev/signing.md). makepkg --sign would sign inside the build,
 * where the PKGBUILD runs: the private key never goes there.
 */

/** The state name of the signing home, which the post step removes after a cancelled run. */
export const SIGNING_HOME_STATE = 'signing-home';

export interface Signer {
  home: string;
  key: OpenPgpKey;
}

/** Runs `work` with the signer of `armoredKey` (undefined without one); its home removed after. */
export function withSigner<T>(
  armoredKey: string | undefined,
  work: (signer: Signer | undefined) => Promise<T>,
): Promise<T> {
  if (armoredKey === undefined) return work(undefined);
  return withGnupgHome(
    'arch-core-signing',
    async (home) => work(await importSigningKey(home, armoredKey)),
    { made: (home) => hold(SIGNING_HOME_STATE, home), removed: () => release(SIGNING_HOME_STATE) },
  );
}

async function importSigningKey(home: string, armoredKey: string): Promise<Signer> {
  const file = await writeKeyFile(home, 'gpg-key.asc', armoredKey);
  const result = await execQuiet('gpg', ['--homedir', home, '--batch', '--import', file], {
    silent: true,
    allowFailure: true,
    missingHint: 'install the Debian package gnupg',
  });
  await fs.rm(file, { force: true });
  if (result.code !== 0) {
    throw new InputError('gpg-key', `gpg could not import it: ${tailOf(result.stderr, 1)}`);
  }
  const keys = await listKeys(home, 'secret');
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) {
    throw new InputError('gpg-key', `holds ${keys.length} secret keys; give exactly one.`);
  }
  core.info(`Signing with ${key.fingerprint} (${key.userId})`);
  return { home, key };
}

/** Signs `file` as makepkg --sign does: a binary detached signature beside it, `FILE.sig`. */
export async function signFile(signer: Signer, file: string): Promise<string> {
  const signature = `${file}.sig`;
  const args = ['--homedir', signer.home, '--batch', '--pinentry-mode', 'loopback'];
  // An empty passphrase: a protected key fails here at once instead of waiting for a pinentry.
  args.push('--passphrase', '', '--local-user', signer.key.fingerprint);
  args.push('--detach-sign', '--no-armor', '--output', signature, file);
  const result = await execQuiet('gpg', args, { silent: true, allowFailure: true });
  if (result.code === 0) return signature;
  await fs.rm(signature, { force: true });
  if (/passphrase/i.test(result.stderr)) {
    throw new InputError(
      'gpg-key',
      'the key is protected by a passphrase; give a signing key (or subkey) exported without one, kept in a secret.',
    );
  }
  throw new UserError(`gpg could not sign ${file}: ${tailOf(result.stderr, 3)}`);
}

/** repo-add's arguments and environment for a signed database: the old one's signature checked. */
export function repoAddSigning(signer: Signer | undefined): {
  args: string[];
  env?: NodeJS.ProcessEnv;
} {
  if (!signer) return { args: [] };
  return {
    args: ['--sign', '--verify', '--key', signer.key.fingerprint],
    env: { ...process.env, GNUPGHOME: signer.home },
  };
}
