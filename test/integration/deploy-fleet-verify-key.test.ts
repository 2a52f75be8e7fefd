import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startFleetCluster, type FleetCluster } from '../helpers/fleet-standin.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { freePort } from '../helpers/process.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// deploy-fleet's verify-key against a real registry on loopback, reached through the real sshd
// of the fleet STAND-IN (test/helpers/fleet-standin/, see docs/dev/fleet-api.md). The images are
// pushed and signed by import-image's bundle; keys are made by openssl; the tampered signatures
// are made with plain HTTP against the registry; the digests are read back by skopeo.

jest.setTimeout(300_000);

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let work: string;
let registry: TestRegistry;
let root: string;
let cluster: FleetCluster;

interface Key {
  /** The private key, PEM. */
  key: string;
  /** The public key, PEM (what verify-key takes). */
  pub: string;
  /** sha256:<hex> of the public key's DER, as openssl writes it. */
  fingerprint: string;
}

function makeKey(name: string): Key {
  const keyFile = path.join(work, `${name}.pem`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  const pub = execFileSync('openssl', ['ec', '-in', keyFile, '-pubout'], {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pub });
  return {
    key: readFileSync(keyFile, 'utf8'),
    pub,
    fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
}

let signer: Key;
let other: Key;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'deploy-fleet-verify-key-'));
  registry = await startRegistry();
  root = path.join(work, 'root');
  await makeAppRoot(root);
  signer = makeKey('signer');
  other = makeKey('other');
  cluster = await startFleetCluster({
    machines: [
      { id: 'a1', primaryIP: '10.0.0.11' },
      { id: 'b2', primaryIP: '10.0.0.12' },
    ],
    reconcileMs: 300,
    startMs: 300,
  });
});
afterAll(async () => {
  await cluster?.stop();
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const repository = 'team/hello';
const image = (tag: string): string => `${registry.address}/${repository}:${tag}`;

/** Pushes the root as `tag` (a label makes each tag's digest its own), signed with `key`. */
async function pushImage(tag: string, key?: Key): Promise<string> {
  const result = await runBundle('import-image', {
    root,
    image: image(tag),
    insecure: 'true',
    labels: `variant=${tag}`,
    ...(key ? { 'sign-key': key.key } : {}),
  });
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  // skopeo, reading the registry on its own, sees the tag at the digest import-image gave.
  const inspected = JSON.parse(
    execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${image(tag)}`], {
      encoding: 'utf8',
    }),
  ) as { Digest: string };
  expect(inspected.Digest).toBe(result.outputs.digest);
  return inspected.Digest;
}

const sigTag = (digest: string): string => `${digest.replace(':', '-')}.sig`;
const url = (what: string): string => `http://${registry.address}/v2/${repository}/${what}`;

async function getManifest(reference: string): Promise<Buffer> {
  const response = await fetch(url(`manifests/${reference}`), {
    headers: { accept: OCI_MANIFEST },
  });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

async function putManifest(reference: string, bytes: Buffer): Promise<void> {
  const response = await fetch(url(`manifests/${reference}`), {
    method: 'PUT',
    headers: { 'content-type': OCI_MANIFEST },
    body: new Uint8Array(bytes),
  });
  expect(response.status).toBe(201);
}

async function getBlob(digest: string): Promise<Buffer> {
  const response = await fetch(url(`blobs/${digest}`));
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

async function pushBlob(bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const start = await fetch(url('blobs/uploads/'), { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location') ?? '', `http://${registry.address}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  expect(put.status).toBe(201);
  return digest;
}

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

/** What fleet and etcd hold of the unit: nothing of it may change when the check refuses. */
async function clusterState(): Promise<unknown> {
  const record = await fetch(
    `${cluster.etcd.url}/v2/keys/arch-core/deploy-fleet/records/hello.service`,
  );
  return {
    unit: cluster.standin.unit('hello.service'),
    agents: ['a1', 'b2'].map((id) => cluster.standin.agentState(id, 'hello.service')),
    record: record.status === 200 ? ((await record.json()) as { node: unknown }).node : 404,
  };
}

function execStart(): string | undefined {
  return cluster.standin
    .unit('hello.service')
    ?.options.find((option) => option.name === 'ExecStart')?.value;
}

test('a digest signed by the key is deployed, and the unit runs it by that digest', async () => {
  const digest = await pushImage('1.0', signer);
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({ image: image('1.0'), 'verify-key': signer.pub }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.outputs.result).toBe('deployed');
  expect(result.outputs['verified-digest']).toBe(digest);
  // The unit pins the checked digest, never the tag.
  const pinned = `${registry.address}/${repository}@${digest}`;
  expect(execStart()).toBe(`/usr/bin/docker run --rm --name hello.service ${pinned}`);
  expect(execStart()).not.toContain(':1.0');
  // The log and the summary say which key (openssl's fingerprint) verified which digest.
  expect(result.log).toContain(`${pinned} is signed by key ${signer.fingerprint}`);
  expect(result.summary).toContain(`${digest} verified with key ${signer.fingerprint}`);
  const record = JSON.parse(result.outputs['deploy-record'] ?? '{}') as Record<string, string>;
  expect([record.image, record.digest, record.version]).toEqual([pinned, digest, '1.0']);
  // The check came after the window opened and before any change in fleet.
  const firstChange = result.log.search(/Take the deploy lock/);
  expect(result.log.indexOf('Check the signature of')).toBeGreaterThan(
    result.log.indexOf('Start update-services'),
  );
  expect(result.log.indexOf('Check the signature of')).toBeLessThan(firstChange);

  // Given by digest, the reference is checked as it is.
  const byDigest = await runBundle(
    'deploy-fleet',
    cluster.inputs({
      image: `${registry.address}/${repository}@${digest}`,
      'verify-key': signer.pub,
    }),
  );
  expect(errorLines(byDigest.log)).toEqual([]);
  expect(byDigest.outputs['verified-digest']).toBe(digest);
  expect(execStart()).toBe(`/usr/bin/docker run --rm --name hello.service ${pinned}`);
});

test('a tag naming a platforms index is checked by the index digest, which the unit pins', async () => {
  const root386 = path.join(work, 'root-386');
  await makeAppRoot(root386, { arch: 'i686' });
  const pushed = await runBundle('import-image', {
    platforms: `linux/386=${root386}\nlinux/amd64=${root}`,
    image: image('multi'),
    insecure: 'true',
    'sign-key': signer.key,
  });
  expect(errorLines(pushed.log)).toEqual([]);
  const index = pushed.outputs.digest!;
  // skopeo, on its own, finds an image index under the tag, at that digest.
  const raw = JSON.parse(
    execFileSync(
      'skopeo',
      ['inspect', '--raw', '--tls-verify=false', `docker://${image('multi')}`],
      {
        encoding: 'utf8',
      },
    ),
  ) as { mediaType: string };
  expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({ image: image('multi'), 'verify-key': signer.pub }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.outputs['verified-digest']).toBe(index);
  // Each machine's docker takes its own arch's image from the pinned index.
  expect(execStart()).toBe(
    `/usr/bin/docker run --rm --name hello.service ${registry.address}/${repository}@${index}`,
  );
});

describe('refused before anything in fleet changes', () => {
  /** Runs the deploy of `tag` and checks the refusal: one line, the cluster as it was, window closed. */
  async function expectRefused(tag: string, digest: string, why: RegExp): Promise<void> {
    const before = await clusterState();
    const requests = cluster.standin.requests.length;
    const result = await runBundle(
      'deploy-fleet',
      cluster.inputs({ image: image(tag), 'verify-key': signer.pub }),
    );
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`Refused to deploy ${image(tag)} (digest ${digest}): `);
    expect(errors[0]).toMatch(why);
    expect(errors[0]).toContain(signer.fingerprint);
    expect(result.log).not.toMatch(/\n\s+at /);
    expect(result.outputs.result).toBe('rolled-back');
    expect(result.outputs['verified-digest']).toBe('');
    expect(result.summary).toContain('Signature');
    // fleet was not even asked; its units, the agents and the deploy record are unchanged.
    expect(cluster.standin.requests.length).toBe(requests);
    expect(await clusterState()).toEqual(before);
    expect(result.log).not.toContain('Take the deploy lock');
    // The update window was closed as after any failure.
    expect(cluster.running('arch-core-registry.service')).toBe(false);
    expect(cluster.running('arch-core-etcd.service')).toBe(false);
    expect(result.post?.code).toBe(0);
  }

  test('no signature', async () => {
    const digest = await pushImage('unsigned');
    await expectRefused(
      'unsigned',
      digest,
      /: no signature \(no sha256-[0-9a-f]{64}\.sig in team\/hello\)/,
    );
  });

  test('a signature by another key', async () => {
    const digest = await pushImage('other-key', other);
    await expectRefused('other-key', digest, /: not signed by this key \(1 signature\(s\)/);
  });

  test("a signature of another digest, copied under this digest's tag", async () => {
    const signedDigest = await pushImage('original', signer);
    const digest = await pushImage('copied');
    await putManifest(sigTag(digest), await getManifest(sigTag(signedDigest)));
    await expectRefused(
      'copied',
      digest,
      new RegExp(`: signed for another digest \\(${signedDigest}\\)`),
    );
  });

  test('a payload changed after signing', async () => {
    const digest = await pushImage('tampered', signer);
    const manifest = JSON.parse((await getManifest(sigTag(digest))).toString()) as {
      layers: Layer[];
    };
    const layer = manifest.layers.find((each) => each.mediaType === SIMPLE_SIGNING)!;
    const payload = await getBlob(layer.digest);
    const changed = Buffer.from(
      payload.toString().replace('"optional":null', '"optional":{"approved":"yes"}'),
    );
    expect(changed.equals(payload)).toBe(false);
    // openssl agrees: the annotation's signature verifies the original payload, not the changed one.
    const verifies = async (bytes: Buffer): Promise<boolean> => {
      await fs.writeFile(path.join(work, 'payload'), bytes);
      await fs.writeFile(path.join(work, 'pub.pem'), signer.pub);
      const sig = path.join(work, 'sig.der');
      await fs.writeFile(
        sig,
        Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64'),
      );
      try {
        execFileSync(
          'openssl',
          [
            'dgst',
            '-sha256',
            '-verify',
            path.join(work, 'pub.pem'),
            '-signature',
            sig,
            path.join(work, 'payload'),
          ],
          { stdio: 'pipe' },
        );
        return true;
      } catch {
        return false;
      }
    };
    expect(await verifies(payload)).toBe(true);
    expect(await verifies(changed)).toBe(false);
    layer.digest = await pushBlob(changed);
    layer.size = changed.length;
    await putManifest(sigTag(digest), Buffer.from(JSON.stringify(manifest)));
    await expectRefused(
      'tampered',
      digest,
      /: payload not the signed one: it was changed after signing/,
    );
  });
});

test('a registry that does not answer is one line too, and nothing in fleet changes', async () => {
  const before = await clusterState();
  const requests = cluster.standin.requests.length;
  const silent = `127.0.0.1:${await freePort()}/${repository}:1.0`;
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({ image: silent, 'verify-key': signer.pub, timeout: '30' }),
  );
  expect(result.code).toBe(1);
  const errors = errorLines(result.log);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(
    /^Refused to deploy 127\.0\.0\.1:\d+\/team\/hello:1\.0: its signature could not be read: Registry 127\.0\.0\.1:\d+: GET manifest 1\.0 failed after \d+ attempts/,
  );
  expect(cluster.standin.requests.length).toBe(requests);
  expect(await clusterState()).toEqual(before);
  expect(cluster.running('arch-core-registry.service')).toBe(false);
});

/** The public key of a new key openssl makes with these genpkey arguments. */
function publicKeyOf(genpkeyArgs: string[]): string {
  const pipe = { stdio: ['pipe', 'pipe', 'pipe'] as Array<'pipe'> };
  const key = execFileSync('openssl', ['genpkey', ...genpkeyArgs], pipe);
  return execFileSync('openssl', ['pkey', '-pubout'], { ...pipe, input: key, encoding: 'utf8' });
}

test.each([
  [
    'an RSA public key',
    () => publicKeyOf(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
    /^Input "verify-key": is a rsa key; give an EC P-256/,
  ],
  [
    'a P-384 public key',
    () => publicKeyOf(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']),
    /^Input "verify-key": is a ec key on secp384r1; give an EC P-256/,
  ],
  [
    'the private key',
    () => signer.key,
    /^Input "verify-key": is a private key; give its public key/,
  ],
  ['not a key', () => 'cosign.pub', /^Input "verify-key": is not a PEM public key/],
])('%s as verify-key is one input error, before anything connects', async (_name, key, message) => {
  const calls = (await cluster.calls()).length;
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({ image: image('1.0'), 'verify-key': key() }),
  );
  expect(result.code).toBe(1);
  const errors = errorLines(result.log);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(result.log).not.toMatch(/\n\s+at /);
  expect((await cluster.calls()).length).toBe(calls);
});
