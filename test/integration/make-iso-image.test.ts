import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { publicKeyLine } from '../helpers/make-iso-fixtures.js';

/**
 * The image resolver and download, driven through the bundle against a local HTTP server that
 * serves a channel the way Flatcar's release server lays it out (…/current/version.txt,
 * …/<version>/flatcar_production_vmware_ova.ova with .DIGESTS in catalyst format and a
 * clear-signed .DIGESTS.asc). The image is a small random file: the real one is 1 GB and there
 * is no network here. The signing key is one gpg makes for the test.
 */

jest.setTimeout(120_000);

const IMAGE = 'flatcar_production_vmware_ova.ova';
const VERSION = '4152.2.1';

interface Release {
  image: Buffer;
  digests: string;
  asc?: string;
}

let server: http.Server;
let port: number;
let work: string;
const releases = new Map<string, Release>(); // channel → release
const requests: string[] = [];

function digestsFor(image: Buffer): string {
  const hex = (algorithm: string) => createHash(algorithm).update(image).digest('hex');
  return [
    '# MD5 HASH',
    `${hex('md5')}  ${IMAGE}`,
    '# SHA1 HASH',
    `${hex('sha1')}  ${IMAGE}`,
    '# SHA512 HASH',
    `${hex('sha512')}  ${IMAGE}`,
    '',
  ].join('\n');
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-image-'));
  server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    const match = /^\/([a-z-]+)\/(current|[\d.]+)\/(.+)$/.exec(request.url ?? '');
    const release = match ? releases.get(match[1] as string) : undefined;
    const name = match?.[3];
    let body: Buffer | string | undefined;
    if (release && match?.[2] === 'current' && name === 'version.txt') {
      body = `FLATCAR_BUILD=4152\nFLATCAR_VERSION=${VERSION}\nFLATCAR_VERSION_ID=${VERSION}\n`;
    } else if (release && match?.[2] === VERSION) {
      if (name === IMAGE) body = release.image;
      if (name === `${IMAGE}.DIGESTS`) body = release.digests;
      if (name === `${IMAGE}.DIGESTS.asc`) body = release.asc;
    }
    if (body === undefined) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(work, { recursive: true, force: true });
});

/** Runs the bundle for the release served under /<key>/ (by the env override, or image-base-url). */
function run(key: string, extra: Record<string, string> = {}, viaEnvironment = false) {
  const cache = path.join(work, `cache-${key}`);
  const output = path.join(work, `out-${key}-${Math.random().toString(36).slice(2)}`);
  const channel = ['stable', 'beta', 'alpha', 'lts'].includes(key) ? key : 'stable';
  return {
    cache,
    output,
    result: runBundle(
      'make-iso',
      {
        'ssh-authorized-keys': publicKeyLine('ssh-ed25519'),
        'master-address': '10.0.0.1',
        'fleet-sha256': 'd'.repeat(64),
        format: 'user-data',
        output,
        channel,
        'download-image': 'true',
        ...(viaEnvironment ? {} : { 'image-base-url': `http://127.0.0.1:${port}/${key}/current` }),
        ...extra,
      },
      {
        ...(viaEnvironment
          ? { ARCH_CORE_FLATCAR_BASE_URL: `http://127.0.0.1:${port}/{channel}/current` }
          : {}),
        RUNNER_TOOL_CACHE: cache,
        RUNNER_TEMP: path.join(work, 'runner-temp'),
        GNUPGHOME: fs.mkdtempSync(path.join(work, 'empty-gnupg-')),
      },
    ),
  };
}

function cachedFiles(cache: string): string[] {
  if (!fs.existsSync(cache)) return [];
  return (fs.readdirSync(cache, { recursive: true }) as string[]).sort();
}

test('a release whose digest matches is downloaded, verified and cached by version', async () => {
  const image = randomBytes(256 * 1024);
  releases.set('stable', { image, digests: digestsFor(image) });
  const { cache, result } = run('stable', {}, true);
  const { code, log, outputs } = await result;
  expect(errorLines(log)).toEqual([]);
  expect(code).toBe(0);
  expect(outputs['vmware-image-version']).toBe(VERSION);
  expect(outputs['vmware-image-url']).toBe(`http://127.0.0.1:${port}/stable/${VERSION}/${IMAGE}`);
  const cached = outputs['vmware-image-path'] as string;
  expect(cached).toBe(path.join(cache, 'flatcar-vmware-ova', VERSION, 'amd64', IMAGE));
  expect(fs.readFileSync(cached).equals(image)).toBe(true);
  expect(log).toContain('::notice::Only the SHA512 digest of the image was checked');

  // The second run takes it from the cache without downloading it again.
  const before = requests.filter((url) => url.endsWith(`/${IMAGE}`)).length;
  const again = await run('stable').result;
  expect(again.code).toBe(0);
  expect(again.outputs['vmware-image-path']).toBe(cached);
  expect(again.log).toContain('From the tool cache');
  expect(requests.filter((url) => url.endsWith(`/${IMAGE}`)).length).toBe(before);
});

test('a wrong digest fails and leaves nothing in the cache (and no output)', async () => {
  const image = randomBytes(128 * 1024);
  releases.set('beta', { image, digests: digestsFor(Buffer.concat([image, Buffer.from('x')])) });
  const { cache, output, result } = run('beta');
  const { code, log } = await result;
  expect(code).toBe(1);
  const errors = errorLines(log);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain('does not match its DIGESTS');
  expect(errors[0]).toContain('nothing was cached');
  expect(cachedFiles(cache).filter((entry) => entry.includes(VERSION))).toEqual([]);
  expect(fs.existsSync(output)).toBe(false);
});

test('a missing release fails with the URL that answered 404', async () => {
  const { code, log } = await run('alpha', {}, true).result;
  expect(code).toBe(1);
  expect(errorLines(log)).toEqual([
    `http://127.0.0.1:${port}/alpha/current/version.txt answered 404 Not Found.`,
  ]);
});

describe('with gpg and the signing key', () => {
  let home: string;
  let keyFile: string;
  const gpg = (...args: string[]) =>
    execFileSync('gpg', ['--batch', '--quiet', '--homedir', home, ...args], { encoding: 'utf8' });

  beforeAll(() => {
    home = fs.mkdtempSync(path.join(work, 'signer-'));
    fs.chmodSync(home, 0o700);
    gpg(
      '--passphrase',
      '',
      '--quick-gen-key',
      'Test Buildbot <buildbot@example.invalid>',
      'ed25519',
      'sign',
      'never',
    );
    keyFile = path.join(work, 'signing-key.asc');
    fs.writeFileSync(keyFile, gpg('--armor', '--export'));
  });
  afterAll(() => {
    execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  });

  function clearsign(text: string): string {
    const plain = path.join(work, `digests-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(plain, text);
    gpg(
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--clearsign',
      '--output',
      `${plain}.asc`,
      plain,
    );
    return fs.readFileSync(`${plain}.asc`, 'utf8');
  }

  test('a good signature is checked and named', async () => {
    const image = randomBytes(64 * 1024);
    const digests = digestsFor(image);
    releases.set('lts', { image, digests, asc: clearsign(digests) });
    const { code, log, outputs } = await run('lts', { 'image-signing-key': keyFile }).result;
    expect(errorLines(log)).toEqual([]);
    expect(code).toBe(0);
    const fingerprint = gpg('--with-colons', '--fingerprint').match(/^fpr:+([0-9A-F]+):/m)?.[1];
    expect(log).toContain(`signed by ${fingerprint}`);
    expect(log).not.toContain('Only the SHA512 digest');
    expect(fs.readFileSync(outputs['vmware-image-path'] as string).equals(image)).toBe(true);
  });

  test('a tampered signed DIGESTS fails and caches nothing', async () => {
    const image = randomBytes(64 * 1024);
    const digests = digestsFor(image);
    const asc = clearsign(digests).replace(
      /^([0-9a-f]{128})( {2}flatcar)/m,
      (_all, hex: string, rest: string) => `${'0'.repeat(hex.length)}${rest}`,
    );
    releases.set('stable-tampered', { image, digests, asc });
    const { cache, code, log } = await (async () => {
      const { cache: dir, result } = run('stable-tampered', { 'image-signing-key': keyFile });
      return { cache: dir, ...(await result) };
    })();
    expect(code).toBe(1);
    expect(errorLines(log)).toHaveLength(1);
    expect(errorLines(log)[0]).toContain('does not verify with the signing key');
    expect(cachedFiles(cache).filter((entry) => entry.includes(VERSION))).toEqual([]);
  });
});
