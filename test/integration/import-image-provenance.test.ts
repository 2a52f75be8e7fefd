import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// import-image's build provenance on Debian's docker-registry: found again from the image digest
// alone (the referrers tag index over plain HTTP, the artifact manifest with skopeo), its subject
// the image, its materials every package file of the root with the sha256 computed here with
// sha256sum, and with sign-key a DSSE envelope whose signature openssl checks over a PAE this
// test encodes itself.
jest.setTimeout(300_000);

const EPOCH = '1767225600'; // 2026-01-01T00:00:00Z
const IN_TOTO = 'application/vnd.in-toto+json';
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** What a runner sets; the values are this test's own. */
const RUNNER_ENV = {
  GITHUB_ACTIONS: 'true',
  GITHUB_SERVER_URL: 'https://github.example.invalid',
  GITHUB_REPOSITORY: 'octo/greeter',
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_WORKFLOW_REF: 'octo/greeter/.github/workflows/release.yml@refs/tags/v2.1',
  GITHUB_REF: 'refs/tags/v2.1',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_EVENT_NAME: 'push',
};
/** Off a runner: every runner variable empty, whatever the machine running the tests has. */
const NO_RUNNER_ENV = Object.fromEntries(Object.keys(RUNNER_ENV).map((name) => [name, '']));

let work: string;
let runnerTemp: string;
let repo: FixtureRepo;
let registry: TestRegistry;
let root: string;
let key: { pem: string; pub: string };

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-provenance-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  registry = await startRegistry();
  repo = await buildFixtureRepo({
    dir: path.join(work, 'fixtures'),
    arch: 'x86_64',
    repoName: 'fixtures',
    packages: [
      {
        name: 'greeter',
        version: '2.1',
        depends: ['greeter-data', 'libfoo++'],
        program: { prints: 'Hello with provenance' },
      },
      { name: 'greeter-data', version: '0.3', arch: 'any', files: { 'usr/share/g/d': 'd\n' } },
      { name: 'libfoo++', version: '1.2', release: '3' },
    ],
  });
  root = path.join(work, 'root');
  const made = await runBundle(
    'make-chroot',
    {
      packages: 'greeter',
      repos: `fixtures=${repo.repoDir}`,
      mirror: 'none',
      arch: 'x86_64',
      app: 'greeter',
      root,
    },
    { RUNNER_TEMP: runnerTemp, SOURCE_DATE_EPOCH: EPOCH },
  );
  if (made.code !== 0) throw new Error(`make-chroot failed:\n${made.log}`);
  const pem = path.join(work, 'key.pem');
  const pub = path.join(work, 'key.pub');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', pem]);
  execFileSync('openssl', ['ec', '-in', pem, '-pubout', '-out', pub], { stdio: 'pipe' });
  key = { pem: await fs.readFile(pem, 'utf8'), pub };
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** `file name → sha256` of the fixture repository's package files, by sha256sum. */
function repositoryFileHashes(): Map<string, string> {
  const files = Object.values(repo.packageFiles);
  const out = execFileSync('sha256sum', files, { encoding: 'utf8' });
  return new Map(
    out
      .trim()
      .split('\n')
      .map((line) => {
        const [hash, file] = line.split(/\s+\*?/);
        return [path.basename(file!), hash!];
      }),
  );
}

async function registryGet(url: string, accept: string): Promise<Buffer> {
  const response = await fetch(`http://${registry.address}${url}`, { headers: { accept } });
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

interface Found {
  artifactDigest: string;
  layerMediaType: string;
  subject: string;
  bytes: Buffer;
}

/** The provenance of `repository@digest`, read from the referrers tag index, skopeo and HTTP. */
async function findProvenance(repository: string, digest: string): Promise<Found | undefined> {
  const index = JSON.parse(
    (
      await registryGet(`/v2/${repository}/manifests/${digest.replace(':', '-')}`, INDEX)
    ).toString(),
  ) as { manifests: Array<{ digest: string; artifactType?: string }> };
  const entry = index.manifests.find((m) => m.artifactType === IN_TOTO);
  if (!entry) return undefined;
  const manifest = JSON.parse(
    execFileSync(
      'skopeo',
      [
        'inspect',
        '--tls-verify=false',
        '--raw',
        `docker://${registry.address}/${repository}@${entry.digest}`,
      ],
      { encoding: 'utf8' },
    ),
  ) as {
    artifactType: string;
    mediaType: string;
    layers: Array<{ mediaType: string; digest: string }>;
    subject: { digest: string };
  };
  expect(manifest.mediaType).toBe(MANIFEST);
  expect(manifest.artifactType).toBe(IN_TOTO);
  expect(manifest.layers).toHaveLength(1);
  const layer = manifest.layers[0]!;
  const bytes = await registryGet(`/v2/${repository}/blobs/${layer.digest}`, '*/*');
  return {
    artifactDigest: entry.digest,
    layerMediaType: layer.mediaType,
    subject: manifest.subject.digest,
    bytes,
  };
}

/** DSSE v1's pre-authentication encoding, written here from the spec, not taken from the code. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([
    Buffer.from('DSSEv1 '),
    Buffer.from(String(type.length)),
    Buffer.from(' '),
    type,
    Buffer.from(' '),
    Buffer.from(String(payload.length)),
    Buffer.from(' '),
    payload,
  ]);
}

interface Envelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

/** openssl's verdict on the envelope's first signature over the PAE of its payload. */
async function opensslVerifiesEnvelope(envelope: Envelope): Promise<boolean> {
  const message = path.join(work, 'pae');
  const signature = path.join(work, 'sig.der');
  await fs.writeFile(message, pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64')));
  await fs.writeFile(signature, Buffer.from(envelope.signatures[0]!.sig, 'base64'));
  try {
    execFileSync(
      'openssl',
      ['dgst', '-sha256', '-verify', key.pub, '-signature', signature, message],
      {
        stdio: 'pipe',
      },
    );
    return true;
  } catch {
    return false;
  }
}

interface Statement {
  _type: string;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: string;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters: Record<string, unknown>;
      resolvedDependencies: Array<{
        name?: string;
        uri?: string;
        digest?: Record<string, string>;
      }>;
    };
    runDetails: {
      builder: { id: string };
      metadata: { invocationId?: string; startedOn: string; finishedOn: string };
    };
  };
}

async function pushImage(
  repository: string,
  inputs: Record<string, string>,
  env: Record<string, string>,
): Promise<Record<string, string>> {
  const result = await runBundle(
    'import-image',
    { root, image: `${registry.address}/${repository}`, insecure: 'true', ...inputs },
    { RUNNER_TEMP: runnerTemp, ...env },
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  return result.outputs;
}

describe('signed with sign-key, on a runner', () => {
  const repository = 'provenance/signed';
  let outputs: Record<string, string>;
  let found: Found;
  let envelope: Envelope;
  let statement: Statement;

  beforeAll(async () => {
    outputs = await pushImage(repository, { 'sign-key': key.pem }, RUNNER_ENV);
    found = (await findProvenance(repository, outputs.digest!))!;
    envelope = JSON.parse(found.bytes.toString()) as Envelope;
    statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as Statement;
  });

  test('found from the image digest alone, and it is the provenance-digest output', () => {
    expect(found).toBeDefined();
    expect(found.artifactDigest).toBe(outputs['provenance-digest']);
    expect(found.subject).toBe(outputs.digest);
    expect(found.layerMediaType).toBe(DSSE);
    expect(envelope.payloadType).toBe(IN_TOTO);
  });

  test('the DSSE signature verifies with openssl and the public key; keyid names that key', async () => {
    expect(await opensslVerifiesEnvelope(envelope)).toBe(true);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', key.pub, '-outform', 'DER']);
    const keyid = execFileSync('sha256sum', { input: der, encoding: 'utf8' }).split(' ')[0];
    expect(envelope.signatures[0]!.keyid).toBe(keyid);
  });

  test('a tampered envelope fails that check: payload or payload type changed', async () => {
    const other = {
      ...statement,
      subject: [{ ...statement.subject[0]!, digest: { sha256: '0'.repeat(64) } }],
    };
    const payload = Buffer.from(JSON.stringify(other)).toString('base64');
    expect(await opensslVerifiesEnvelope({ ...envelope, payload })).toBe(false);
    expect(await opensslVerifiesEnvelope({ ...envelope, payloadType: 'application/json' })).toBe(
      false,
    );
  });

  test('an in-toto statement of SLSA provenance v1 whose subject is the image', () => {
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(outputs.image).toBe(`${registry.address}/${repository}`);
    expect(statement.subject).toEqual([
      {
        name: outputs.image,
        digest: { sha256: outputs.digest!.replace('sha256:', '') },
      },
    ]);
  });

  test('materials: every package file of the root, with the sha256 of the file', () => {
    const installed = execFileSync(
      'pacman',
      ['--root', root, '--dbpath', `${root}/var/lib/pacman`, '-Q'],
      {
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n');
    expect(installed).toEqual(['greeter 2.1-1', 'greeter-data 0.3-1', 'libfoo++ 1.2-3']);
    const hashes = repositoryFileHashes();
    const packages = statement.predicate.buildDefinition.resolvedDependencies.filter((entry) =>
      entry.uri?.startsWith('pkg:alpm/'),
    );
    expect(packages.map((entry) => [entry.name, entry.digest])).toEqual(
      [...hashes.entries()].sort().map(([file, sha256]) => [file, { sha256 }]),
    );
    expect(packages.map((entry) => entry.uri)).toEqual([
      'pkg:alpm/arch/greeter@2.1-1?arch=x86_64',
      'pkg:alpm/arch/greeter-data@0.3-1?arch=any',
      'pkg:alpm/arch/libfoo%2B%2B@1.2-3?arch=x86_64',
    ]);
  });

  test('the run: builder, invocation from the runner variables, the workflow commit as source', () => {
    const { buildDefinition, runDetails } = statement.predicate;
    expect(runDetails.builder.id).toMatch(
      /^https:\/\/github\.com\/arch-core\/import-image@v\d+\.\d+\.\d+$/,
    );
    expect(runDetails.metadata.invocationId).toBe(
      'https://github.example.invalid/octo/greeter/actions/runs/4242/attempts/2',
    );
    expect(Date.parse(runDetails.metadata.finishedOn)).toBeGreaterThanOrEqual(
      Date.parse(runDetails.metadata.startedOn),
    );
    expect(buildDefinition.resolvedDependencies[0]).toMatchObject({
      uri: 'git+https://github.example.invalid/octo/greeter@refs/tags/v2.1',
      digest: { gitCommit: RUNNER_ENV.GITHUB_SHA },
    });
    expect(buildDefinition.externalParameters).toMatchObject({
      image: `${registry.address}/${repository}`,
      signed: true,
    });
    expect(JSON.stringify(statement)).not.toContain('PRIVATE KEY');
  });
});

describe('unsigned, off a runner', () => {
  test('the statement itself, saying no invocation; nothing with provenance: false', async () => {
    const outputs = await pushImage('provenance/plain', {}, NO_RUNNER_ENV);
    const found = (await findProvenance('provenance/plain', outputs.digest!))!;
    expect(found.layerMediaType).toBe(IN_TOTO);
    expect(found.artifactDigest).toBe(outputs['provenance-digest']);
    const statement = JSON.parse(found.bytes.toString()) as Statement;
    expect(statement.subject[0]!.digest.sha256).toBe(outputs.digest!.replace('sha256:', ''));
    expect(statement.predicate.runDetails.metadata.invocationId).toBeUndefined();
    expect(statement.predicate.buildDefinition.internalParameters.github).toBeNull();

    const off = await pushImage('provenance/off', { provenance: 'false' }, NO_RUNNER_ENV);
    expect(off.digest).toBe(outputs.digest);
    expect(off['provenance-digest']).toBe('');
    expect(await findProvenance('provenance/off', off.digest!)).toBeUndefined();
  });
});
