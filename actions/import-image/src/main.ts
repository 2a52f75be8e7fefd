import * as core from '@actions/core';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { humanBytes, withPrivateTempDir } from '../../core/src/files.js';
import { formatImageReference, type ImageReference } from '../../core/src/image-ref.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { hold, release } from '../../core/src/post.js';
import {
  MANIFEST_PATH_IN_ROOT,
  parseManifest,
  readManifest,
  type Manifest,
} from '../../core/src/manifest.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { sourceDateEpoch } from '../../core/src/tar.js';
import {
  formatPlatform,
  imageLabels,
  isoOf,
  manifestAnnotations,
  platformForArch,
  resolveEpoch,
  resolveTags,
  runnerRepositoryUrl,
} from './config.js';
import { dockerImportAndPush } from './docker.js';
import {
  clientCredentials,
  registryCredential,
  type RegistryCredential,
} from './docker-credentials.js';
import { parseInputs, type Inputs } from './inputs.js';
import {
  MEDIA_TYPES,
  digestOf,
  imageConfigJson,
  imageManifestJson,
  compressionParallelism,
  layerFromRoot,
  layerFromTarball,
  readFileFromTarball,
  writeOciLayout,
  type BuiltImage,
  type Layer,
  type Platform,
  type RuntimeConfig,
} from './oci.js';
import { RegistryClient } from './registry.js';
import { attachArtifact, type Artifact, type Descriptor } from './referrers.js';
import { findSbomArtifacts } from './sbom-artifacts.js';
import { TEMPORARIES_STATE, TUNNEL_STATE, holdTunnel } from './post.js';
import { openTunnel, type Tunnel } from './tunnel.js';

/** What the image is made of, besides its layer: decided from the inputs and the manifest. */
interface ImagePlan {
  manifest?: Manifest;
  tags: string[];
  platform: Platform;
  /** SOURCE_DATE_EPOCH of the image: mtimes are clamped to it, and it is the created time. */
  epoch: number;
  created: string;
  /** Where the epoch came from, for the log. */
  epochFrom: string;
  runtime: RuntimeConfig;
  /** The image manifest's annotations. */
  annotations: Record<string, string>;
}

/** Where the push connects (a tunnel's address, or the registry) and with what credential. */
interface PushTarget {
  address: string;
  credential?: RegistryCredential;
}

interface Result {
  digest?: string;
  configDigest: string;
  layerDigest: string;
  sizeBytes: number;
  uploadedBytes?: number;
  /** The OCI layout or archive written (output). */
  layout?: string;
  /** The artifacts attached to the pushed image (the SBOMs; mode oci only), as descriptors. */
  referrers?: Descriptor[];
}

export async function run(): Promise<void> {
  const inputs = await parseInputs(rawInputsFromEnv());
  const plan = planImage(inputs, await core.group('Manifest', () => loadManifest(inputs)));
  // Before any work, so a broken Docker config fails at once.
  const credential = inputs.push
    ? await registryCredential(
        inputs['registry-username'],
        inputs['registry-password'],
        inputs.image.registry,
      )
    : undefined;
  await withPrivateTempDir('import-image', async (work) => {
    hold(TEMPORARIES_STATE, work);
    const layer = await core.group('Layer', () => buildLayer(inputs, plan, work));
    const tunnel = await openTunnelIfAsked(inputs);
    try {
      const address = tunnel?.address ?? inputs.image.registry;
      const result =
        inputs.mode === 'docker'
          ? await dockerImportAndPush({
              layer,
              runtime: plan.runtime,
              platform: plan.platform,
              repository: inputs.image.repository,
              registry: inputs.image.registry,
              pushAddress: address,
              tags: plan.tags,
              push: inputs.push,
              plainHttp: inputs.insecure,
              credential,
              work,
            })
          : await makeOciImage(inputs, plan, layer, { address, credential });
      writeActionOutputs(inputs, plan, result);
      await writeRunSummary(inputs, plan, result);
    } finally {
      await tunnel?.close();
      release(TUNNEL_STATE);
    }
  });
  // On a failure too the directory is gone; the post step then finds nothing left.
  release(TEMPORARIES_STATE);
}

/** The manifest input, else the one in the root or the tarball; logged either way. */
async function loadManifest(inputs: Inputs): Promise<Manifest | undefined> {
  const found = await findManifest(inputs);
  if (found) {
    core.info(
      `${found.app ? `${found.app.name} ${found.app.version}, ` : ''}${found.packages.length} packages, ${found.arch}`,
    );
  } else {
    core.warning('No manifest: the image gets no version or package labels.');
  }
  return found;
}

async function findManifest(inputs: Inputs): Promise<Manifest | undefined> {
  if (inputs.manifest) return readManifest(inputs.manifest);
  if (inputs.root) {
    const inRoot = path.join(inputs.root, MANIFEST_PATH_IN_ROOT);
    const exists = await fs.stat(inRoot).catch(() => undefined);
    return exists ? readManifest(inRoot) : undefined;
  }
  const tarball = inputs.tarball as string;
  const content = await readFileFromTarball(tarball, MANIFEST_PATH_IN_ROOT);
  return content
    ? parseManifest(content.toString('utf8'), `${tarball}:${MANIFEST_PATH_IN_ROOT}`)
    : undefined;
}

function planImage(inputs: Inputs, manifest: Manifest | undefined): ImagePlan {
  const tags = resolveTags(inputs.tags, inputs.image, manifest);
  const platform = resolvePlatform(inputs, manifest);
  const { epoch, from } = resolveEpoch(sourceDateEpoch(), manifest);
  const created = isoOf(epoch);
  const annotations = manifestAnnotations(inputs.annotations, platform);
  for (const line of annotations.ignored) core.notice(`annotations: ignored ${line}.`);
  const labels = imageLabels(
    manifest,
    created,
    inputs.image.repository.split('/').pop() ?? '',
    inputs.labels,
    runnerRepositoryUrl(process.env),
  );
  return {
    manifest,
    tags,
    platform,
    epoch,
    created,
    epochFrom: from,
    runtime: {
      entrypoint: inputs.entrypoint,
      cmd: inputs.cmd,
      env: inputs.env,
      workdir: inputs.workdir,
      user: inputs.user,
      exposedPorts: inputs['exposed-ports'],
      labels,
    },
    annotations: annotations.manifest,
  };
}

/** The platform input, else the manifest's arch; linux/amd64 when there is no manifest. */
function resolvePlatform(inputs: Inputs, manifest: Manifest | undefined): Platform {
  if (inputs.platform) return inputs.platform;
  if (!manifest) return { os: 'linux', architecture: 'amd64' };
  const platform = platformForArch(manifest.arch);
  if (!platform) {
    throw new UserError(
      `The manifest's arch "${manifest.arch}" has no known platform; set the "platform" input.`,
    );
  }
  return platform;
}

async function buildLayer(inputs: Inputs, plan: ImagePlan, work: string): Promise<Layer> {
  core.info(`mtimes clamped to ${plan.created} (${plan.epochFrom}); every entry owned by root`);
  const file = path.join(work, 'layer.tar.gz');
  const options = {
    mtimeClamp: plan.epoch,
    compression: inputs.compression,
    level: inputs['compression-level'],
  };
  core.info(`${inputs.compression} level ${options.level}, ${compressionParallelism()} at once`);
  const layer = inputs.root
    ? await layerFromRoot(inputs.root, file, options)
    : await layerFromTarball(inputs.tarball as string, file, options);
  core.info(
    `${layer.digest}: ${humanBytes(layer.size)} compressed, ${humanBytes(layer.uncompressedSize)} of tar (diffID ${layer.diffId})`,
  );
  return layer;
}

async function openTunnelIfAsked(inputs: Inputs): Promise<Tunnel | undefined> {
  const ssh = inputs['ssh-tunnel'];
  if (!inputs.push || !ssh) return undefined;
  const tunnel = await core.group('SSH tunnel', () =>
    openTunnel(ssh, inputs.image.registry, inputs.insecure),
  );
  holdTunnel(tunnel.address, `${ssh.user}@${ssh.host}:${ssh.port}`);
  return tunnel;
}

/** mode oci: config and manifest made here, pushed over the registry API, then the layout. */
async function makeOciImage(
  inputs: Inputs,
  plan: ImagePlan,
  layer: Layer,
  target: PushTarget,
): Promise<Result> {
  const image = buildImage(plan, layer);
  core.info(`image ${image.manifest.digest} (config ${image.config.digest})`);
  const artifacts = inputs.push ? await findSbomArtifacts(inputs, plan.created) : [];
  const pushed = inputs.push
    ? await core.group(`Push to ${inputs.image.registry}`, () =>
        pushImage(inputs, target, image, plan.tags, artifacts),
      )
    : undefined;
  // Written after a successful push, so a failed run leaves no output behind.
  const layout = inputs.output;
  if (layout) {
    const kind = await core.group('OCI layout', () =>
      writeOciLayout(layout, image, plan.tags, plan.epoch),
    );
    core.info(`wrote the OCI ${kind === 'archive' ? 'archive' : 'layout directory'} ${layout}`);
  }
  return {
    digest: image.manifest.digest,
    configDigest: image.config.digest,
    layerDigest: layer.digest,
    sizeBytes: layer.size,
    uploadedBytes: pushed?.uploaded,
    layout,
    referrers: pushed?.referrers ?? [],
  };
}

/** The image config and manifest around the layer. */
function buildImage(plan: ImagePlan, layer: Layer): BuiltImage {
  const configBytes = imageConfigJson(plan.platform, plan.created, plan.runtime, [layer.diffId]);
  const config = {
    mediaType: MEDIA_TYPES.config,
    digest: digestOf(configBytes),
    size: configBytes.length,
    bytes: configBytes,
  };
  const manifestBytes = imageManifestJson(config, [layer], plan.annotations);
  return {
    layer,
    config,
    manifest: {
      mediaType: MEDIA_TYPES.manifest,
      digest: digestOf(manifestBytes),
      size: manifestBytes.length,
      bytes: manifestBytes,
    },
    platform: plan.platform,
  };
}

/** The image as the user named it, without a tag. */
function imageName(image: ImageReference): string {
  return `${image.registry}/${image.repository}`;
}

function imageRefOf(inputs: Inputs, result: Result): string {
  return result.digest ? `${imageName(inputs.image)}@${result.digest}` : '';
}

function writeActionOutputs(inputs: Inputs, plan: ImagePlan, result: Result): void {
  const imageRef = imageRefOf(inputs, result);
  const metadata = {
    image: imageName(inputs.image),
    digest: result.digest ?? '',
    'image-ref': imageRef,
    tags: plan.tags,
    'config-digest': result.configDigest,
    'layer-digest': result.layerDigest,
    'size-bytes': result.sizeBytes,
    layout: result.layout ?? '',
    platform: formatPlatform(plan.platform),
    pushed: inputs.push,
    mode: inputs.mode,
    labels: plan.runtime.labels,
  };
  setOutputs({
    digest: result.digest ?? '',
    'image-ref': imageRef,
    tags: plan.tags.join('\n'),
    'config-digest': result.configDigest,
    'layer-digest': result.layerDigest,
    'size-bytes': result.sizeBytes,
    layout: result.layout ?? '',
    metadata: JSON.stringify(metadata),
    ...referrerOutputs(result.referrers ?? []),
  });
}

/** sbom-spdx-digest and sbom-cyclonedx-digest: each empty when that SBOM was not attached. */
function referrerOutputs(referrers: readonly Descriptor[]): Record<string, string> {
  const digestOf = (type: string): string =>
    referrers.find((referrer) => referrer.artifactType === type)?.digest ?? '';
  return {
    'sbom-spdx-digest': digestOf('application/spdx+json'),
    'sbom-cyclonedx-digest': digestOf('application/vnd.cyclonedx+json'),
  };
}

async function writeRunSummary(inputs: Inputs, plan: ImagePlan, result: Result): Promise<void> {
  const facts: Array<[string, string]> = [
    ['Image', imageRefOf(inputs, result) || imageName(inputs.image)],
    ['Digest', result.digest ?? '(not pushed)'],
    ['Tags', plan.tags.map((tag) => formatImageReference({ ...inputs.image, tag })).join(', ')],
    ['Platform', formatPlatform(plan.platform)],
    ['Layer', `${result.layerDigest} (${humanBytes(result.sizeBytes)})`],
    ['Created', `${plan.created} (${plan.epochFrom})`],
  ];
  if (result.uploadedBytes !== undefined) {
    facts.push(['Uploaded', humanBytes(result.uploadedBytes)]);
  }
  if (result.layout) facts.push(['OCI layout', result.layout]);
  for (const referrer of result.referrers ?? []) {
    facts.push([`Attached ${referrer.artifactType}`, referrer.digest]);
  }
  await writeSummary('import-image', facts, [
    {
      title: 'Constituent packages',
      headers: ['Package', 'Version', 'Arch'],
      rows: (plan.manifest?.packages ?? []).map((p) => [p.name, p.version, p.arch]),
    },
  ]);
}

/**
 * Pushes blobs (skipping those present), the manifest under every tag, then the artifacts
 * referring to it; gives the blob bytes sent and the artifacts' descriptors.
 */
async function pushImage(
  inputs: Inputs,
  { address, credential }: PushTarget,
  image: BuiltImage,
  tags: string[],
  artifacts: readonly Artifact[],
): Promise<{ uploaded: number; referrers: Descriptor[] }> {
  const client = new RegistryClient({
    address,
    displayName: inputs.image.registry,
    serverName: address === inputs.image.registry ? undefined : inputs.image.registry,
    insecure: inputs.insecure,
    ...clientCredentials(credential),
    log: (line) => core.info(line),
    ...chunkingFromEnvironment(),
  });
  const repository = inputs.image.repository;
  try {
    await client.ping(repository);
    let uploaded = 0;
    uploaded += await client.pushBlob(repository, {
      digest: image.layer.digest,
      size: image.layer.size,
      file: image.layer.file,
    });
    uploaded += await client.pushBlob(repository, {
      digest: image.config.digest,
      size: image.config.size,
      bytes: image.config.bytes,
    });
    for (const tag of tags) {
      const answered = await client.putManifest(
        repository,
        tag,
        MEDIA_TYPES.manifest,
        image.manifest.bytes,
      );
      if (answered && answered !== image.manifest.digest) {
        throw new UserError(
          `Registry ${inputs.image.registry} stored the manifest as ${answered}, not ${image.manifest.digest}.`,
        );
      }
      core.info(`${formatImageReference({ ...inputs.image, tag })} → ${image.manifest.digest}`);
    }
    core.info(`uploaded ${humanBytes(uploaded)} of blobs`);
    const referrers: Descriptor[] = [];
    for (const artifact of artifacts) {
      const referrer = await attachArtifact(client, repository, image.manifest, artifact);
      core.info(`${artifact.artifactType} attached as ${referrer.digest}`);
      referrers.push(referrer);
    }
    return { uploaded, referrers };
  } finally {
    client.close();
  }
}

/**
 * ARCH_CORE_REGISTRY_CHUNK_BYTES: blobs larger than this are uploaded in chunks of this size
 * (default 16 MiB). A tuning knob for slow links and for tests.
 */
function chunkingFromEnvironment(): { chunkSize?: number; monolithicMax?: number } {
  const text = process.env.ARCH_CORE_REGISTRY_CHUNK_BYTES?.trim();
  if (!text) return {};
  const bytes = Number(text);
  if (!Number.isInteger(bytes) || bytes < 65536) {
    throw new UserError(
      `ARCH_CORE_REGISTRY_CHUNK_BYTES "${text}" is not a number of bytes >= 65536.`,
    );
  }
  return { chunkSize: bytes, monolithicMax: bytes };
}
