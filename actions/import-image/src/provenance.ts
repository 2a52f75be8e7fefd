import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { AppInfo, Manifest } from '../../core/src/manifest.js';
import { packageUrl } from '../../core/src/purl.js';
import { keyFingerprint } from '../../core/src/simple-signing.js';
import type { Inputs } from './inputs.js';
import type { Platform } from './oci.js';
import type { Artifact } from './referrers.js';

/**
 * The image's build provenance (docs/dev/provenance.md): an in-toto Statement v1 whose predicate
 * is SLSA Provenance v1, attached to the image as an OCI artifact like the SBOMs; with sign-key it
 * is the payload of a DSSE envelope signed with that key.
 */

export const PROVENANCE_ARTIFACT_TYPE = 'application/vnd.in-toto+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
const SLSA_PROVENANCE = 'https://slsa.dev/provenance/v1';
/** This project's name for what import-image does; its parameters are described at this URL. */
export const BUILD_TYPE =
  'https://github.com/arch-core/arch-core/blob/main/docs/dev/provenance.md#build-type-v1';
/** actions/import-image/package.json's version (a unit test keeps the two equal). */
export const IMPORT_IMAGE_VERSION = '1.0.0';
export const BUILDER_ID = `https://github.com/arch-core/import-image@v${IMPORT_IMAGE_VERSION}`;

/** What import-image decided about the image before making it (its ImagePlan). */
export interface PlannedImage {
  manifest?: Manifest;
  tags: readonly string[];
  platform: Platform;
  /** The image's SOURCE_DATE_EPOCH, and where it came from. */
  epoch: number;
  epochFrom: string;
  /** When the run began. */
  startedOn: Date;
}

/** What the statement is made from; all of it but the times and `env` is fixed by the inputs. */
export interface ProvenanceFacts {
  inputs: Inputs;
  plan: PlannedImage;
  /** The image manifest's digest, `sha256:<hex>`. */
  digest: string;
  /** When the image was made (its manifest, before the push). */
  finishedOn: Date;
  env: NodeJS.ProcessEnv;
}

type ResourceDescriptor = {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, string>;
};

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The inputs that shaped the image (no credentials, paths, tunnels or timeouts). */
function externalParameters({ inputs, plan }: ProvenanceFacts): Record<string, unknown> {
  return {
    image: `${inputs.image.registry}/${inputs.image.repository}`,
    tags: plan.tags,
    source: inputs.root !== undefined ? 'root' : 'tarball',
    mode: inputs.mode,
    layers: inputs.layers,
    compression: inputs.compression,
    compressionLevel: inputs['compression-level'],
    platform: plan.platform,
    entrypoint: inputs.entrypoint ?? null,
    cmd: inputs.cmd ?? null,
    env: inputs.env,
    workdir: inputs.workdir ?? null,
    user: inputs.user ?? null,
    exposedPorts: inputs['exposed-ports'],
    labels: Object.fromEntries(inputs.labels),
    annotations: inputs.annotations,
    signed: inputs.signKey !== undefined,
  };
}

/** The GitHub Actions run this is, or undefined off a runner (nothing is made up then). */
function githubRun(env: NodeJS.ProcessEnv): Record<string, string> | undefined {
  if (envValue(env, 'GITHUB_ACTIONS') !== 'true' || !envValue(env, 'GITHUB_RUN_ID')) {
    return undefined;
  }
  const names: Array<[string, string]> = [
    ['serverUrl', 'GITHUB_SERVER_URL'],
    ['repository', 'GITHUB_REPOSITORY'],
    ['runId', 'GITHUB_RUN_ID'],
    ['runAttempt', 'GITHUB_RUN_ATTEMPT'],
    ['workflowRef', 'GITHUB_WORKFLOW_REF'],
    ['eventName', 'GITHUB_EVENT_NAME'],
    ['ref', 'GITHUB_REF'],
    ['sha', 'GITHUB_SHA'],
    ['runnerEnvironment', 'RUNNER_ENVIRONMENT'],
  ];
  const run: Record<string, string> = {};
  for (const [key, name] of names) {
    const value = envValue(env, name);
    if (value !== undefined) run[key] = value;
  }
  return run;
}

/** The app's source as the manifest's app record names it; undefined when it names none. */
function appSource(app: AppInfo | undefined): ResourceDescriptor | undefined {
  if (!app || app.vcs === 'none' || !app.source || !app.commit) return undefined;
  const annotations: Record<string, string> = { vcs: app.vcs };
  if (app.revision !== undefined) annotations.revision = app.revision;
  if (app.commitTime !== undefined) annotations.commitTime = app.commitTime;
  return {
    name: app.name,
    uri: `${app.vcs}+${app.source}@${app.commit}`,
    // DigestSet knows git's commit ids; a Mercurial node has no name there, so it stays in the URI.
    ...(app.vcs === 'git' ? { digest: { gitCommit: app.commit } } : {}),
    annotations,
  };
}

/** Without an app source in the manifest: the workflow's repository and commit, on a runner. */
function runnerSource(run: Record<string, string> | undefined): ResourceDescriptor | undefined {
  if (!run?.serverUrl || !run.repository || !run.sha) return undefined;
  return {
    uri: `git+${run.serverUrl}/${run.repository}@${run.ref ?? run.sha}`,
    digest: { gitCommit: run.sha },
    annotations: { from: 'the workflow run (GITHUB_REPOSITORY, GITHUB_SHA)' },
  };
}

/** Every package of the root: its file and sha256 where make-chroot recorded them. */
function packageMaterials(manifest: Manifest | undefined): ResourceDescriptor[] {
  if (!manifest) return [];
  return manifest.packages.map((entry) => ({
    name: entry.file ?? `${entry.name}-${entry.version}-${entry.arch}`,
    uri: packageUrl(manifest.arch, entry),
    ...(entry.sha256 ? { digest: { sha256: entry.sha256 } } : {}),
  }));
}

/** The in-toto statement's bytes (pure: the same facts give the same bytes). */
export function provenanceStatement(facts: ProvenanceFacts): Buffer {
  const { plan } = facts;
  const run = githubRun(facts.env);
  const source = appSource(plan.manifest?.app) ?? runnerSource(run);
  const statement = {
    _type: STATEMENT_TYPE,
    subject: [
      {
        name: `${facts.inputs.image.registry}/${facts.inputs.image.repository}`,
        digest: { sha256: facts.digest.replace(/^sha256:/, '') },
      },
    ],
    predicateType: SLSA_PROVENANCE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: externalParameters(facts),
        internalParameters: {
          sourceDateEpoch: plan.epoch,
          sourceDateEpochFrom: plan.epochFrom,
          arch: plan.manifest?.arch ?? null,
          github: run ?? null,
        },
        resolvedDependencies: [...(source ? [source] : []), ...packageMaterials(plan.manifest)],
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { 'import-image': IMPORT_IMAGE_VERSION } },
        metadata: {
          ...(run?.serverUrl && run.repository && run.runId
            ? {
                invocationId: `${run.serverUrl}/${run.repository}/actions/runs/${run.runId}/attempts/${run.runAttempt ?? '1'}`,
              }
            : {}),
          startedOn: isoSeconds(plan.startedOn),
          finishedOn: isoSeconds(facts.finishedOn),
        },
      },
    },
  };
  return Buffer.from(JSON.stringify(statement));
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** DSSE's pre-authentication encoding of `payload` (lengths in bytes, as ASCII decimals). */
export function preAuthenticationEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

/** The key's id in the envelope: its fingerprint's hex, the sha256 of its public key's DER. */
export function keyId(key: KeyObject): string {
  return keyFingerprint(createPublicKey(key)).slice('sha256:'.length);
}

/** A DSSE envelope of `payload`, signed with ECDSA P-256 over SHA-256 (DER signature). */
export function dsseEnvelope(payload: Buffer, payloadType: string, key: KeyObject): Buffer {
  const signature = sign('sha256', preAuthenticationEncoding(payloadType, payload), key);
  return Buffer.from(
    JSON.stringify({
      payloadType,
      payload: payload.toString('base64'),
      signatures: [{ keyid: keyId(key), sig: signature.toString('base64') }],
    }),
  );
}

/** The provenance as an artifact of the image: the statement, or its envelope with sign-key. */
export function provenanceArtifact(facts: ProvenanceFacts): Artifact {
  const statement = provenanceStatement(facts);
  const key = facts.inputs.signKey;
  return {
    artifactType: PROVENANCE_ARTIFACT_TYPE,
    mediaType: key ? DSSE_MEDIA_TYPE : PROVENANCE_ARTIFACT_TYPE,
    bytes: key ? dsseEnvelope(statement, PROVENANCE_ARTIFACT_TYPE, key) : statement,
    annotations: {
      'org.opencontainers.image.created': isoSeconds(facts.finishedOn),
      'org.opencontainers.image.title': key ? 'provenance.dsse.json' : 'provenance.json',
    },
  };
}
