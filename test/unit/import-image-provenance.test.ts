import { describe, expect, test } from '@jest/globals';
import { generateKeyPairSync, verify } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Manifest } from '../../actions/core/src/manifest.js';
import { parseInputs } from '../../actions/import-image/src/inputs.js';
import {
  BUILDER_ID,
  DSSE_MEDIA_TYPE,
  IMPORT_IMAGE_VERSION,
  PROVENANCE_ARTIFACT_TYPE,
  preAuthenticationEncoding,
  provenanceArtifact,
  provenanceStatement,
  type ProvenanceFacts,
} from '../../actions/import-image/src/provenance.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { projectRoot } from '../helpers/bundle.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const manifest: Manifest = {
  schemaVersion: 1,
  arch: 'i686',
  app: {
    name: 'hello',
    version: '1.2.r14.0a1b2c3d4e5f-1',
    vcs: 'hg',
    revision: '14',
    hash: '0a1b2c3d4e5f',
    commit: '0a1b2c3d4e5f'.padEnd(40, '0'),
    source: 'https://hg.example.invalid/hello',
  },
  packages: [
    {
      name: 'glibc',
      version: '2.39-1',
      arch: 'i686',
      installedSize: 1,
      file: 'glibc-2.39-1-i686.pkg.tar.zst',
      sha256: 'cd'.repeat(32),
    },
    { name: 'hello', version: '1.2.r14.0a1b2c3d4e5f-1', arch: 'i686', installedSize: 1 },
  ],
  created: '2026-11-25T10:05:00Z',
};

async function facts(
  raw: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<ProvenanceFacts> {
  const inputs = await parseInputs(
    actionInputs('import-image', {
      root: os.tmpdir(),
      image: '127.0.0.1:5000/team/hello',
      ...raw,
    }),
  );
  return {
    inputs,
    plan: {
      manifest,
      tags: ['1.2.r14.0a1b2c3d4e5f-1', 'latest'],
      platform: { os: 'linux', architecture: '386' },
      epoch: 1_764_064_800,
      epochFrom: "the manifest's created time",
      startedOn: new Date('2026-12-04T10:00:00.123Z'),
    },
    digest: DIGEST,
    finishedOn: new Date('2026-12-04T10:01:30.456Z'),
    env,
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the provenance statement', () => {
  test('the same facts give the same bytes; only the times tell two runs apart', async () => {
    const one = await facts();
    expect(provenanceStatement(one)).toEqual(provenanceStatement(await facts()));
    const later = { ...one, finishedOn: new Date('2026-12-04T11:00:00Z') };
    const text = provenanceStatement(later).toString();
    expect(text.replace('2026-12-04T11:00:00Z', '2026-12-04T10:01:30Z')).toBe(
      provenanceStatement(one).toString(),
    );
  });

  test('subject, source from the app record, every package (sha256 where recorded)', async () => {
    const statement = JSON.parse(provenanceStatement(await facts()).toString()) as Json;
    expect(statement.subject).toEqual([
      { name: '127.0.0.1:5000/team/hello', digest: { sha256: 'ab'.repeat(32) } },
    ]);
    expect(statement.predicate.buildDefinition.resolvedDependencies).toEqual([
      {
        name: 'hello',
        uri: `hg+https://hg.example.invalid/hello@${manifest.app!.commit}`,
        annotations: { vcs: 'hg', revision: '14' },
      },
      {
        name: 'glibc-2.39-1-i686.pkg.tar.zst',
        uri: 'pkg:alpm/arch32/glibc@2.39-1?arch=i686',
        digest: { sha256: 'cd'.repeat(32) },
      },
      {
        name: 'hello-1.2.r14.0a1b2c3d4e5f-1-i686',
        uri: 'pkg:alpm/arch32/hello@1.2.r14.0a1b2c3d4e5f-1?arch=i686',
      },
    ]);
  });

  test('off a runner: no invocation id, github null; times in whole seconds', async () => {
    const statement = JSON.parse(provenanceStatement(await facts()).toString()) as Json;
    expect(statement.predicate.runDetails).toEqual({
      builder: { id: BUILDER_ID, version: { 'import-image': IMPORT_IMAGE_VERSION } },
      metadata: { startedOn: '2026-12-04T10:00:00Z', finishedOn: '2026-12-04T10:01:30Z' },
    });
    expect(statement.predicate.buildDefinition.internalParameters.github).toBeNull();
  });

  test('no secret among the parameters: credentials and the signing key stay out', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const text = provenanceStatement(
      await facts({
        'registry-username': 'robot',
        'registry-password': 'hunter2-password',
        'sign-key': pem,
      }),
    ).toString();
    expect(text).not.toContain('hunter2-password');
    expect(text).not.toContain('robot');
    expect(text).not.toContain('PRIVATE KEY');
    expect(JSON.parse(text).predicate.buildDefinition.externalParameters.signed).toBe(true);
  });
});

describe('the DSSE envelope', () => {
  test('PAE as DSSE v1 defines it: lengths in bytes, as ASCII decimals', () => {
    expect(
      preAuthenticationEncoding('http://example.com/HelloWorld', Buffer.from('hello world')),
    ).toEqual(Buffer.from('DSSEv1 29 http://example.com/HelloWorld 11 hello world'));
    expect(preAuthenticationEncoding('t', Buffer.from('é'))).toEqual(Buffer.from('DSSEv1 1 t 2 é'));
  });

  test('with sign-key: an envelope of the statement, its signature over the PAE by the key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const signed = await facts({ 'sign-key': pem });
    const artifact = provenanceArtifact(signed);
    expect(artifact.artifactType).toBe(PROVENANCE_ARTIFACT_TYPE);
    expect(artifact.mediaType).toBe(DSSE_MEDIA_TYPE);
    const envelope = JSON.parse(artifact.bytes.toString()) as Json;
    const payload = Buffer.from(envelope.payload as string, 'base64');
    expect(payload).toEqual(provenanceStatement(signed));
    const message = preAuthenticationEncoding(envelope.payloadType as string, payload);
    const sig = Buffer.from(envelope.signatures[0].sig as string, 'base64');
    expect(verify('sha256', message, publicKey, sig)).toBe(true);
    expect(verify('sha256', Buffer.concat([message, Buffer.from(' ')]), publicKey, sig)).toBe(
      false,
    );
  });

  test('without sign-key: the statement itself', async () => {
    const plain = await facts();
    const artifact = provenanceArtifact(plain);
    expect(artifact.mediaType).toBe(PROVENANCE_ARTIFACT_TYPE);
    expect(artifact.bytes).toEqual(provenanceStatement(plain));
  });
});

test("the builder's version is actions/import-image/package.json's", () => {
  const packageJson = JSON.parse(
    fs.readFileSync(path.join(projectRoot, 'actions/import-image/package.json'), 'utf8'),
  ) as { version: string };
  expect(IMPORT_IMAGE_VERSION).toBe(packageJson.version);
  expect(BUILDER_ID).toBe(`https://github.com/arch-core/import-image@v${packageJson.version}`);
});
