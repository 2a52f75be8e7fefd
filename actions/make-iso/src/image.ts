import * as core from '../../core/src/runner.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';
import { withGnupgHome } from '../../core/src/gpg.js';

/**
 * The Flatcar VMware image of a channel: its URL and version (from the channel's
 * `version.txt`), and with download-image a verified copy in the tool cache.
 *
 * Verification follows flatcar/scripts (build_library/release_util.sh): every image has a
 * `NAME.DIGESTS` file in Gentoo catalyst's format (`# MD5 HASH`, `# SHA1 HASH`, `# SHA512 HASH`
 * sections of `<hex>  <file>` lines) and `NAME.DIGESTS.asc`, the same text clear-signed by
 * "Flatcar Buildbot (Official Builds)", key E25D9AED0593B34A.
 */

export const IMAGE_FILE = 'flatcar_production_vmware_ova.ova';
export const CACHE_TOOL = 'flatcar-vmware-ova';
export const CACHE_ARCH = 'amd64';
export const FLATCAR_SIGNING_KEY_ID = 'E25D9AED0593B34A';

export interface ResolvedImage {
  version: string;
  /** The image URL pinned to the version (…/<version>/… instead of …/current/…). */
  url: string;
}

/** `FLATCAR_VERSION=…` (or `FLATCAR_VERSION_ID=…`) from version.txt. */
export function parseVersionTxt(text: string): string {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z_]+)=["']?([^"'\s]*)["']?\s*$/.exec(line);
    if (match) values.set(match[1] as string, match[2] as string);
  }
  const version = values.get('FLATCAR_VERSION') ?? values.get('FLATCAR_VERSION_ID');
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new UserError(`version.txt has no FLATCAR_VERSION of the form N.N.N.`);
  }
  return version;
}

/** Catalyst DIGESTS → algorithm (`SHA512`) → file name → lower-case hex. */
export function parseDigests(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const header = /^#\s*([A-Z0-9]+)\s+HASH$/i.exec(line);
    if (header) {
      const name = (header[1] as string).toUpperCase();
      current = sections.get(name) ?? new Map<string, string>();
      sections.set(name, current);
      continue;
    }
    const entry = /^([0-9a-fA-F]+)\s+\*?(\S+)$/.exec(line);
    if (entry && current) current.set(entry[2] as string, (entry[1] as string).toLowerCase());
  }
  return sections;
}

/** The image URL for a version: `…/current` in the base becomes `…/<version>`. */
export function versionedBase(baseUrl: string, version: string): string {
  return baseUrl.replace(/\/current$/, `/${version}`);
}

async function fetchText(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new UserError(
      `Cannot reach ${url}: ${(error as Error).cause ?? (error as Error).message}`,
    );
  }
  if (!response.ok)
    throw new UserError(`${url} answered ${response.status} ${response.statusText}.`);
  return response.text();
}

export async function resolveImage(baseUrl: string): Promise<ResolvedImage> {
  const version = parseVersionTxt(await fetchText(`${baseUrl}/version.txt`));
  return { version, url: `${versionedBase(baseUrl, version)}/${IMAGE_FILE}` };
}

async function sha512File(file: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks the clear-signed DIGESTS with gpg against `keyFile` (an armored public key) in a
 * keyring of its own, and returns the signed text. Undefined when gpg or the key is missing.
 */
async function verifiedDigests(
  ascUrl: string,
  keyFile: string | undefined,
): Promise<{ text: string; signer: string } | string> {
  const gpg = await execQuiet('gpg', ['--version'], { silent: true, allowFailure: true }).catch(
    () => undefined,
  );
  if (!gpg || gpg.code !== 0) {
    if (keyFile) {
      throw new UserError(
        'image-signing-key is set but gpg is not installed: install the Debian package gnupg.',
      );
    }
    return 'gpg is not installed';
  }
  return withGnupgHome('make-iso-gpg', async (home) => {
    const env = { ...process.env, GNUPGHOME: home };
    let key = keyFile;
    if (!key) {
      const exported = await execQuiet(
        'gpg',
        ['--batch', '--armor', '--export', FLATCAR_SIGNING_KEY_ID],
        {
          silent: true,
          allowFailure: true,
        },
      );
      if (exported.code !== 0 || !exported.stdout.includes('BEGIN PGP PUBLIC KEY')) {
        return `the Flatcar signing key ${FLATCAR_SIGNING_KEY_ID} is not in the keyring and image-signing-key is not set`;
      }
      key = path.join(home, 'flatcar.asc');
      await fs.writeFile(key, exported.stdout);
    }
    await execQuiet('gpg', ['--batch', '--quiet', '--import', key], { env, silent: true });
    const asc = path.join(home, 'DIGESTS.asc');
    await fs.writeFile(asc, await fetchText(ascUrl));
    const plain = path.join(home, 'DIGESTS');
    const result = await execQuiet(
      'gpg',
      ['--batch', '--status-fd', '1', '--output', plain, '--decrypt', asc],
      { env, silent: true, allowFailure: true },
    );
    const valid = /^\[GNUPG:\] VALIDSIG ([0-9A-F]+)/m.exec(result.stdout);
    if (result.code !== 0 || !valid) {
      throw new UserError(
        `The signature of ${ascUrl} does not verify with the signing key: ${result.stderr.trim().split('\n').pop() ?? ''}`,
      );
    }
    return { text: await fs.readFile(plain, 'utf8'), signer: valid[1] as string };
  });
}

export interface DownloadedImage {
  path: string;
  fromCache: boolean;
  verification: string;
}

/**
 * Downloads the image with @actions/tool-cache, checks its SHA512 against the release's DIGESTS
 * (signed, when gpg and the key are available), and caches it by version. A mismatch fails and
 * leaves nothing in the cache.
 */
export async function downloadImage(
  image: ResolvedImage,
  signingKey: string | undefined,
): Promise<DownloadedImage> {
  process.env.RUNNER_TOOL_CACHE ||= path.join(os.homedir(), '.cache', 'arch-core', 'tool-cache');
  process.env.RUNNER_TEMP ||= os.tmpdir();
  // Evaluated only here: a run that writes only cloud-configs never needs it, and it brings
  // @actions/core and @actions/http-client along. "eager" keeps it in index.js: ncc writes
  // licenses.txt once per chunk, so a chunk of its own would leave the others' licenses out.
  const tc = await import(/* webpackMode: "eager" */ '@actions/tool-cache');
  const cached = tc.find(CACHE_TOOL, image.version, CACHE_ARCH);
  if (cached) {
    return {
      path: path.join(cached, IMAGE_FILE),
      fromCache: true,
      verification: 'verified when it was cached',
    };
  }
  const digestsUrl = `${image.url}.DIGESTS`;
  const signed = await verifiedDigests(`${digestsUrl}.asc`, signingKey);
  let digestsText: string;
  let verification: string;
  if (typeof signed === 'string') {
    core.notice(
      `Only the SHA512 digest of the image was checked, not its GPG signature: ${signed}.`,
    );
    digestsText = await fetchText(digestsUrl);
    verification = `SHA512 from ${IMAGE_FILE}.DIGESTS (signature not checked: ${signed})`;
  } else {
    digestsText = signed.text;
    verification = `SHA512 from ${IMAGE_FILE}.DIGESTS.asc, signed by ${signed.signer}`;
  }
  const expected = parseDigests(digestsText).get('SHA512')?.get(IMAGE_FILE);
  if (!expected) throw new UserError(`${digestsUrl} has no SHA512 line for ${IMAGE_FILE}.`);
  const downloaded = await tc.downloadTool(image.url);
  try {
    const actual = await sha512File(downloaded);
    if (actual !== expected) {
      throw new UserError(
        `${image.url} does not match its DIGESTS: SHA512 ${actual.slice(0, 16)}… instead of ${expected.slice(0, 16)}…; nothing was cached.`,
      );
    }
    const dir = await tc.cacheFile(downloaded, IMAGE_FILE, CACHE_TOOL, image.version, CACHE_ARCH);
    return { path: path.join(dir, IMAGE_FILE), fromCache: false, verification };
  } finally {
    await fs.rm(downloaded, { force: true });
  }
}
