import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// sign-key against the real registry. The signature is read back by independent readers —
// skopeo for the manifests, plain HTTP for the blob, openssl for the ECDSA check — the way
// containers/image's sigstore check works: the payload's signature by the public key, then the
// payload's digest and reference against the image.
jest.setTimeout(180_000);

let work: string;
let registry: TestRegistry;
let root: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-signature-'));
  registry = await startRegistry();
  root = path.join(work, 'root');
  await makeAppRoot(root);
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function makeKey(name: string): Promise<{ key: string; pub: string }> {
  const key = path.join(work, `${name}.pem`);
  const pub = path.join(work, `${name}.pub`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', pub], { stdio: 'pipe' });
  return { key: await fs.readFile(key, 'utf8'), pub };
}

function rawManifest(reference: string): Record<string, unknown> {
  const out = execFileSync(
    'skopeo',
    ['inspect', '--tls-verify=false', '--raw', `docker://${reference}`],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as Record<string, unknown>;
}

async function blob(repository: string, digest: string): Promise<Buffer> {
  const response = await fetch(`http://${registry.address}/v2/${repository}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

interface SignatureLayer {
  mediaType: string;
  digest: string;
  annotations: Record<string, string>;
}

/** openssl's verdict on `signature` (base64 DER) over `payload` by the public key file `pub`. */
async function opensslVerifies(payload: Buffer, signature: string, pub: string): Promise<boolean> {
  const payloadFile = path.join(work, 'payload');
  const signatureFile = path.join(work, 'signature.der');
  await fs.writeFile(payloadFile, payload);
  await fs.writeFile(signatureFile, Buffer.from(signature, 'base64'));
  try {
    execFileSync(
      'openssl',
      ['dgst', '-sha256', '-verify', pub, '-signature', signatureFile, payloadFile],
      {
        stdio: 'pipe',
      },
    );
    return true;
  } catch {
    return false;
  }
}

/** What a sigstoreSigned policy with `pub` accepts for `repository@digest`: a verified payload naming it. */
async function acceptedSignatures(
  repository: string,
  digest: string,
  pub: string,
): Promise<number> {
  const tag = `${digest.replace(':', '-')}.sig`;
  const manifest = rawManifest(`${registry.address}/${repository}:${tag}`);
  let accepted = 0;
  for (const layer of manifest.layers as SignatureLayer[]) {
    if (layer.mediaType !== 'application/vnd.dev.cosign.simplesigning.v1+json') continue;
    const payload = await blob(repository, layer.digest);
    const signature = layer.annotations['dev.cosignproject.cosign/signature'] ?? '';
    if (!(await opensslVerifies(payload, signature, pub))) continue;
    const critical = (
      JSON.parse(payload.toString()) as { critical: Record<string, Record<string, string>> }
    ).critical;
    if (critical.image?.['docker-manifest-digest'] !== digest) continue;
    if (critical.identity?.['docker-reference'] !== `${registry.address}/${repository}`) continue;
    accepted += 1;
  }
  return accepted;
}

describe('import-image sign-key', () => {
  test('the pushed digest carries a signature that verifies with the public key, and with no other', async () => {
    const signer = await makeKey('signer');
    const other = await makeKey('other');
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/signed`,
      insecure: 'true',
      'sign-key': signer.key,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    const digest = result.outputs.digest!;
    expect(result.outputs['signature-ref']).toBe(
      `${registry.address}/team/signed:${digest.replace(':', '-')}.sig`,
    );
    expect(await acceptedSignatures('team/signed', digest, signer.pub)).toBe(1);
    expect(await acceptedSignatures('team/signed', digest, other.pub)).toBe(0);
    // The key is masked: its lines appear only in the runner's ::add-mask:: commands.
    const keyLine = signer.key.split('\n')[1]!;
    const showing = result.log.split('\n').filter((line) => line.includes(keyLine));
    expect(showing.filter((line) => !line.startsWith('::add-mask::'))).toEqual([]);

    // A second run with the same key adds nothing; another key's signature goes beside it.
    const again = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/signed`,
      insecure: 'true',
      'sign-key': signer.key,
    });
    expect(again.code).toBe(0);
    expect(again.log).toContain('already signed by this key');
    const otherKey = await fs.readFile(path.join(work, 'other.pem'), 'utf8');
    const third = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/signed`,
      insecure: 'true',
      'sign-key': otherKey,
    });
    expect(third.code).toBe(0);
    const tag = `${digest.replace(':', '-')}.sig`;
    expect((rawManifest(`${registry.address}/team/signed:${tag}`).layers as unknown[]).length).toBe(
      2,
    );
    expect(await acceptedSignatures('team/signed', digest, signer.pub)).toBe(1);
    expect(await acceptedSignatures('team/signed', digest, other.pub)).toBe(1);
  });

  test('a payload changed after signing, or made for another digest, is refused by the check', async () => {
    const signer = await makeKey('tamper');
    const result = await runBundle('import-image', {
      root,
      image: `${registry.address}/team/tamper`,
      insecure: 'true',
      'sign-key': signer.key,
    });
    expect(result.code).toBe(0);
    const digest = result.outputs.digest!;
    const manifest = rawManifest(`${registry.address}/team/tamper:${digest.replace(':', '-')}.sig`);
    const layer = (manifest.layers as SignatureLayer[])[0]!;
    const payload = await blob('team/tamper', layer.digest);
    const signature = layer.annotations['dev.cosignproject.cosign/signature']!;
    expect(await opensslVerifies(payload, signature, signer.pub)).toBe(true);
    const otherDigest = `sha256:${'0'.repeat(64)}`;
    const changed = Buffer.from(payload.toString().replace(digest, otherDigest));
    expect(changed.equals(payload)).toBe(false);
    expect(await opensslVerifies(changed, signature, signer.pub)).toBe(false);
    // The signature of this digest says nothing of another one: no .sig tag exists for it.
    expect(() =>
      rawManifest(`${registry.address}/team/tamper:${otherDigest.replace(':', '-')}.sig`),
    ).toThrow();
  });

  test('a key that is not P-256, an encrypted one, or sign-key without push are input errors', async () => {
    const rsa = execFileSync(
      'openssl',
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      {
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const signer = await makeKey('inputs');
    const encrypted = execFileSync(
      'openssl',
      ['pkcs8', '-topk8', '-in', path.join(work, 'inputs.pem'), '-passout', 'pass:pw'],
      { encoding: 'utf8' },
    );
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'sign-key': rsa }, /sign-key.*rsa key.*P-256/],
      [{ 'sign-key': encrypted }, /sign-key.*encrypted/],
      [{ 'sign-key': 'not a key' }, /sign-key.*not a PEM private key/],
      [
        { 'sign-key': signer.key, push: 'false', output: path.join(work, 'layout') },
        /sign-key.*push: true/,
      ],
    ];
    for (const [inputs, expected] of cases) {
      const run = await runBundle('import-image', {
        root,
        image: `${registry.address}/team/inputs`,
        insecure: 'true',
        ...inputs,
      });
      expect(run.code).toBe(1);
      expect(errorLines(run.log)).toEqual([expect.stringMatching(expected)]);
    }
  });
});
