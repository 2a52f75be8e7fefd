import * as core from '../../core/src/runner.js';
import type { KeyObject } from 'node:crypto';
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
import { splitByOrigin } from './app-layers.js';
import { treeFingerprint } from './fingerprint.js';
import { LayerCache } from './layer-cache.js';
import {
  MEDIA_TYPES,
  compressLayer,
  compressionParallelism,
  digestOf,
  hashTar,
  imageConfigJson,
  imageManifestJson,
  layerCompression,
  readFileFromTarball,
  rootTarSource,
  tarballTarSource,
  writeOciLayout,
  type Blob,
  type BuiltImage,
  type CompressionOptions,
  type Layer,
  type Platform,
  type RuntimeConfig,
  type TarSource,
} from './oci.js';
import { pushSignature, type PushedSignature } from './signature.js';
import {
  DeadlineError,
  RegistryClient,
  type PushBlob,
  type RegistryOptions,
} from '../../core/src/registry.js';
import { EarlyUploads } from './early-upload.js';
import { attachArtifact, type Artifact, type Descriptor } from './referrers.js';
import { findSbomArtifacts } from './sbom-artifacts.js';
import { PROVENANCE_ARTIFACT_TYPE, provenanceArtifact } from './provenance.js';
import { TEMPORARIES_STATE, TUNNEL_STATE, holdTunnel } from './post.js';
import { failureThroughTunnel, openTunnel, type Tunnel } from './tunnel.js';
import {
  agreedTags,
  checkSourceArch,
  imageIndex,
  indexAnnotations,
  writeIndexLayout,
  type PlatformSource,
} from './platforms.js';

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
  /** The annotations lines this image left out, and why. */
  ignoredAnnotations: string[];
  /** When the run began (the provenance's startedOn). */
  startedOn: Date;
}

/** One image to make: its inputs (with platforms, those of its line) and its plan. */
interface Child {
  inputs: Inputs;
  plan: ImagePlan;
}

/** A child whose layers are made. */
interface LayeredChild extends Child {
  layers: Layer[];
}

/** What the tags name: the one image's manifest, or (platforms) the index over the images. */
type TaggedManifest = Blob & { bytes: Buffer };

/** Where the push connects (a tunnel's address, or the registry) and with what credential. */
interface PushTarget {
  address: string;
  credential?: RegistryCredential;
}

/** One image made: with platforms, one per line; else the only one. */
interface ImageResult {
  platform: Platform;
  digest?: string;
  configDigest: string;
  layerDigest: string;
  sizeBytes: number;
  labels: Record<string, string>;
  signature?: PushedSignature;
  referrers: Descriptor[];
}

interface Result {
  /** What the tags name: the image's manifest, or with platforms the index. */
  digest?: string;
  /** The image's; empty with platforms (each image has its own, in `images`). */
  configDigest: string;
  layerDigest: string;
  /** Of every layer of every image. */
  sizeBytes: number;
  images: ImageResult[];
  uploadedBytes?: number;
  /** The OCI layout or archive written (output). */
  layout?: string;
  /** With sign-key: where the signature was pushed. */
  signature?: PushedSignature;
  /** The artifacts attached to the pushed image (the SBOMs; mode oci only), as descriptors. */
  referrers?: Descriptor[];
}

export async function run(): Promise<void> {
  const inputs = await parseInputs(rawInputsFromEnv());
  const children = await core.group('Manifest', () => planChildren(inputs));
  const tags = (children[0] as Child).plan.tags;
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
    const cache = inputs['cache-dir'] ? new LayerCache(inputs['cache-dir']) : undefined;
    // Before the layers: a layer may be uploaded while it is compressed.
    const tunnel = await openTunnelIfAsked(inputs);
    const address = tunnel?.address ?? inputs.image.registry;
    const early = earlyUploadsOf(inputs, tags, { address, credential });
    try {
      const layered: LayeredChild[] = [];
      for (const child of children) {
        const platform = formatPlatform(child.plan.platform);
        const dir = inputs.platforms ? path.join(work, platform.replaceAll('/', '-')) : work;
        await fs.mkdir(dir, { recursive: true });
        const layers = await core.group(inputs.platforms ? `Layer ${platform}` : 'Layer', () =>
          buildLayers(child.inputs, child.plan, dir, cache, early),
        );
        layered.push({ ...child, layers });
      }
      const result =
        inputs.mode === 'docker'
          ? await makeDockerImage(inputs, layered[0] as LayeredChild, tags, {
              address,
              credential,
              work,
              timeoutSeconds: inputs.timeout,
            })
          : await makeOciImage(inputs, layered, tags, { address, credential }, early);
      writeActionOutputs(inputs, tags, layered, result);
      await writeRunSummary(inputs, tags, layered, result);
      if (cache) await pruneCache(cache);
    } catch (error) {
      throw failureThroughTunnel(tunnel, error);
    } finally {
      early?.close();
      await tunnel?.close();
      release(TUNNEL_STATE);
    }
  });
  // On a failure too the directory is gone; the post step then finds nothing left.
  release(TEMPORARIES_STATE);
}

/**
 * The images to make: the one of root or tarball, or one per line of platforms, each checked
 * to be of its line's platform and planned as a single root is; then all under the same tags.
 */
async function planChildren(inputs: Inputs): Promise<Child[]> {
  if (!inputs.platforms) return [{ inputs, plan: planImage(inputs, await loadManifest(inputs)) }];
  const children: Child[] = [];
  for (const source of inputs.platforms) {
    const child = childInputs(inputs, source);
    const manifest = await loadManifest(child);
    core.info(await checkSourceArch(source, manifest));
    children.push({ inputs: child, plan: planImage(child, manifest, true) });
  }
  const platforms = children.map(({ plan }) => plan.platform);
  noticeIgnored(
    new Set([
      ...children.flatMap(({ plan }) => plan.ignoredAnnotations),
      ...indexAnnotations(inputs.annotations, platforms).ignored,
    ]),
  );
  const tags = agreedTags(children.map(({ plan }) => plan));
  return children.map((child) => ({ ...child, plan: { ...child.plan, tags } }));
}

/** The inputs of one line of platforms: those of a single root, with its platform. */
function childInputs(inputs: Inputs, source: PlatformSource): Inputs {
  return { ...inputs, platforms: undefined, ...source };
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

/** With `inIndex` (platforms) the notices of left-out annotations are the caller's to give. */
function planImage(inputs: Inputs, manifest: Manifest | undefined, inIndex = false): ImagePlan {
  const startedOn = new Date();
  const tags = resolveTags(inputs.tags, inputs.image, manifest);
  const platform = resolvePlatform(inputs, manifest);
  const { epoch, from } = resolveEpoch(sourceDateEpoch(), manifest);
  const created = isoOf(epoch);
  const annotations = manifestAnnotations(inputs.annotations, platform, inIndex);
  if (!inIndex) noticeIgnored(annotations.ignored);
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
    ignoredAnnotations: annotations.ignored,
    startedOn,
  };
}

function noticeIgnored(lines: Iterable<string>): void {
  for (const line of lines) core.notice(`annotations: ignored ${line}.`);
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

/** A layer to make: its name in the log, its history comment, its tar stream. */
interface LayerPlan {
  name: string;
  comment: string;
  source: TarSource;
  /** The root's metadata digest (cache-fingerprint); for a root only. */
  fingerprint?: () => string;
}

/** The layers, bottom first: the root as one, or (layers: app) the dependencies, then the app. */
async function planLayers(inputs: Inputs, plan: ImagePlan): Promise<LayerPlan[]> {
  if (inputs.layers === 'single') {
    core.info(`mtimes clamped to ${plan.created} (${plan.epochFrom}); every entry owned by root`);
    const options = { mtimeClamp: plan.epoch };
    const { root } = inputs;
    const source = root
      ? await rootTarSource(root, options)
      : tarballTarSource(inputs.tarball as string, options);
    const fingerprint = root ? () => treeFingerprint(root, options) : undefined;
    return [{ name: 'layer', comment: 'the root as one layer', source, fingerprint }];
  }
  const root = inputs.root as string;
  const app = plan.manifest?.app?.name;
  if (!app) {
    throw new UserError(
      "layers: app needs the manifest's app (make-chroot's app input) to know which package is on top.",
    );
  }
  const split = await splitByOrigin(root, app, plan.epoch);
  core.info(
    `layers: app: ${app}'s ${split.appPaths} paths, pacman's database and the manifest on top; mtimes clamped to ${isoOf(split.mtimeClamp)} (the earlier of ${plan.created} and the other packages' newest build date); every entry owned by root`,
  );
  const below = { mtimeClamp: split.mtimeClamp, select: (p: string) => !split.inAppLayer(p) };
  const above = { mtimeClamp: split.mtimeClamp, select: split.inAppLayer };
  return [
    {
      name: 'dependencies',
      comment: `the packages below ${app}`,
      source: await rootTarSource(root, below),
      fingerprint: () => treeFingerprint(root, below),
    },
    {
      name: 'app',
      comment: `${app}, pacman's database and the manifest`,
      source: await rootTarSource(root, above),
      fingerprint: () => treeFingerprint(root, above),
    },
  ];
}

/**
 * Uploads begun while compressing (early-upload.ts): mode oci with push, one layer (with
 * `layers: app` the dependencies' layer is often in the registry already, unchanged).
 */
function earlyUploadsOf(
  inputs: Inputs,
  tags: string[],
  target: PushTarget,
): EarlyUploads | undefined {
  if (!inputs.push || inputs.mode !== 'oci' || inputs.layers !== 'single') return undefined;
  return new EarlyUploads({
    client: registryClient(inputs, target, { retries: 0 }),
    repository: inputs.image.repository,
    tags,
    timeoutSeconds: inputs.timeout,
    log: (line) => core.info(line),
  });
}

/** A client of the registry the push goes to, over `target`'s address. */
function registryClient(
  inputs: Inputs,
  { address, credential }: PushTarget,
  more: Partial<RegistryOptions>,
): RegistryClient {
  return new RegistryClient({
    address,
    displayName: inputs.image.registry,
    serverName: address === inputs.image.registry ? undefined : inputs.image.registry,
    insecure: inputs.insecure,
    ...clientCredentials(credential),
    log: (line) => core.info(line),
    ...chunkingFromEnvironment(),
    ...more,
  });
}

/** A layer compressed into `file`, uploaded meanwhile when `early` is given and it pays. */
async function compressAndUpload(
  inputs: Inputs,
  { name, source }: Pick<LayerPlan, 'name' | 'source'>,
  file: string,
  compression: CompressionOptions,
  early: EarlyUploads | undefined,
): Promise<Layer> {
  const upload = early?.follow(file, name);
  const layer = await compressLayer(source, file, compression, upload?.grew);
  try {
    await upload?.finish(layer.digest, layer.size);
  } catch (error) {
    if (!(error instanceof DeadlineError)) throw error;
    throw pushOutOfTime(inputs, error, [], [`the ${name}`, 'the config', 'the tags']);
  }
  return layer;
}

async function buildLayers(
  inputs: Inputs,
  plan: ImagePlan,
  work: string,
  cache: LayerCache | undefined,
  early: EarlyUploads | undefined,
): Promise<Layer[]> {
  const planned = await planLayers(inputs, plan);
  const compression = layerCompression({
    compression: inputs.compression,
    level: inputs['compression-level'],
  });
  core.info(
    `${compression.compression} level ${compression.level}, ${compressionParallelism()} at once`,
  );
  const layers: Layer[] = [];
  let compressed = 0;
  for (const layerPlan of planned) {
    const { name, comment, source } = layerPlan;
    const fingerprint = inputs['cache-fingerprint'] ? layerPlan.fingerprint : undefined;
    const compress = (file: string): Promise<Layer> =>
      compressAndUpload(inputs, { name, source }, file, compression, early);
    const made = cache
      ? await cachedLayer(cache, { name, source, fingerprint }, compression, compress)
      : { layer: await compress(path.join(work, `${name}.tar.gz`)), compressed: true };
    if (made.compressed) compressed++;
    const { layer } = made;
    core.info(
      `${name} ${layer.digest}: ${humanBytes(layer.size)} compressed, ${humanBytes(layer.uncompressedSize)} of tar (diffID ${layer.diffId})`,
    );
    layers.push({ ...layer, comment });
  }
  if (cache && compressed === 0) core.info('compressed nothing: every layer came from the cache');
  return layers;
}

/** The layer from the cache when it holds it (checked), else compressed into the cache. */
async function cachedLayer(
  cache: LayerCache,
  { name, source, fingerprint }: Omit<LayerPlan, 'comment'>,
  compression: CompressionOptions,
  compress: (file: string) => Promise<Layer>,
): Promise<{ layer: Layer; compressed: boolean }> {
  const treeDigest = fingerprint?.();
  const known = treeDigest ? await cache.factsOf(treeDigest) : undefined;
  if (known) core.info(`${name}: the tree's fingerprint is known; its tar was not read`);
  const facts = known ?? (await hashTar(source));
  if (treeDigest && !known) await cache.rememberFingerprint(treeDigest, facts);
  const found = await cache.lookup(facts, compression);
  if ('layer' in found) {
    core.info(`${name}: ${found.layer.digest} from the cache (diffID ${facts.diffId})`);
    return { layer: found.layer, compressed: false };
  }
  if (found.corrupt) core.warning(`cache-dir: ${name}: ${found.miss}`);
  else core.info(`${name}: diffID ${facts.diffId} ${found.miss}; compressing it`);
  const temporary = await cache.temporaryBlob();
  try {
    const layer = await cache.store(await compress(temporary), compression);
    // A fingerprint that named another tar (the tree changed unseen) is put right.
    if (treeDigest && layer.diffId !== facts.diffId) {
      await cache.rememberFingerprint(treeDigest, layer);
    }
    return { layer, compressed: true };
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

async function pruneCache(cache: LayerCache): Promise<void> {
  const removed = await cache.prune();
  if (removed.entries > 0) {
    core.info(`cache-dir: pruned ${removed.entries} older entries (${humanBytes(removed.bytes)})`);
  }
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

/** mode docker: docker import and docker push of the one root's layer. */
async function makeDockerImage(
  inputs: Inputs,
  child: LayeredChild,
  tags: string[],
  {
    address,
    credential,
    work,
    timeoutSeconds,
  }: PushTarget & { work: string; timeoutSeconds: number },
): Promise<Result> {
  const made = await dockerImportAndPush({
    layer: child.layers[0] as Layer,
    runtime: child.plan.runtime,
    platform: child.plan.platform,
    repository: inputs.image.repository,
    registry: inputs.image.registry,
    pushAddress: address,
    tags,
    push: inputs.push,
    plainHttp: inputs.insecure,
    credential,
    work,
    timeoutSeconds,
  });
  const image = {
    ...made,
    platform: child.plan.platform,
    labels: child.plan.runtime.labels,
    referrers: [],
  };
  return { ...made, images: [image] };
}

/**
 * mode oci: configs and manifests made here (with platforms, one image per line and the index
 * over them), pushed over the registry API, then the layout.
 */
async function makeOciImage(
  inputs: Inputs,
  children: LayeredChild[],
  tags: string[],
  target: PushTarget,
  early: EarlyUploads | undefined,
): Promise<Result> {
  const images = children.map((child) => buildImage(child.plan, child.layers));
  for (const image of images) {
    const platform = inputs.platforms ? `${formatPlatform(image.platform)} ` : '';
    core.info(`${platform}image ${image.manifest.digest} (config ${image.config.digest})`);
  }
  const platforms = images.map((image) => image.platform);
  const index = inputs.platforms
    ? imageIndex(images, indexAnnotations(inputs.annotations, platforms).index)
    : undefined;
  if (index) core.info(`index ${index.digest} of ${images.length} images`);
  const tagged = index ?? (images[0] as BuiltImage).manifest;
  const artifacts: Artifact[][] = [];
  for (const [i, child] of children.entries()) {
    if (!inputs.push) {
      artifacts.push([]);
      continue;
    }
    const provenance = inputs.provenance
      ? [
          provenanceArtifact({
            inputs: child.inputs,
            plan: child.plan,
            digest: (images[i] as BuiltImage).manifest.digest,
            finishedOn: new Date(),
            env: process.env,
          }),
        ]
      : [];
    artifacts.push([...(await findSbomArtifacts(child.inputs, child.plan.created)), ...provenance]);
  }
  const pushed = inputs.push
    ? await core.group(`Push to ${inputs.image.registry}`, () =>
        pushImages(inputs, target, { images, artifacts, tagged }, tags, early?.stored),
      )
    : undefined;
  // Written after a successful push, so a failed run leaves no output behind.
  const layout = inputs.output;
  if (layout) {
    const epoch = Math.max(...children.map((child) => child.plan.epoch));
    const kind = await core.group('OCI layout', () =>
      index
        ? writeIndexLayout(layout, index, images, tags, epoch)
        : writeOciLayout(layout, images[0] as BuiltImage, tags, epoch),
    );
    core.info(`wrote the OCI ${kind === 'archive' ? 'archive' : 'layout directory'} ${layout}`);
  }
  const results = children.map((child, i): ImageResult => {
    const image = images[i] as BuiltImage;
    return {
      platform: image.platform,
      digest: image.manifest.digest,
      configDigest: image.config.digest,
      layerDigest: (child.layers[child.layers.length - 1] as Layer).digest,
      sizeBytes: child.layers.reduce((total, layer) => total + layer.size, 0),
      labels: child.plan.runtime.labels,
      signature: pushed?.signatures.get(image.manifest.digest),
      referrers: pushed?.referrers[i] ?? [],
    };
  });
  const only = index ? undefined : results[0];
  return {
    digest: tagged.digest,
    configDigest: only?.configDigest ?? '',
    layerDigest: only?.layerDigest ?? '',
    sizeBytes: results.reduce((total, result) => total + result.sizeBytes, 0),
    images: results,
    uploadedBytes: pushed?.uploaded,
    signature: pushed?.signatures.get(tagged.digest),
    layout,
    referrers: only?.referrers ?? [],
  };
}

/** The image config and manifest around the layers. */
function buildImage(plan: ImagePlan, layers: Layer[]): BuiltImage {
  const configBytes = imageConfigJson(
    plan.platform,
    plan.created,
    plan.runtime,
    layers.map((layer) => layer.diffId),
    layers.map((layer) => layer.comment ?? 'the root as one layer'),
  );
  const config = {
    mediaType: MEDIA_TYPES.config,
    digest: digestOf(configBytes),
    size: configBytes.length,
    bytes: configBytes,
  };
  const manifestBytes = imageManifestJson(config, layers, plan.annotations);
  return {
    layers,
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

/** platform-digests: each image's manifest digest by its platform. */
function platformDigests(result: Result): Record<string, string> {
  return Object.fromEntries(
    result.images.map((image) => [formatPlatform(image.platform), image.digest ?? '']),
  );
}

function writeActionOutputs(
  inputs: Inputs,
  tags: string[],
  children: readonly Child[],
  result: Result,
): void {
  const imageRef = imageRefOf(inputs, result);
  const only = inputs.platforms ? undefined : (children[0] as Child);
  const metadata = {
    image: imageName(inputs.image),
    digest: result.digest ?? '',
    'image-ref': imageRef,
    tags,
    'config-digest': result.configDigest,
    'layer-digest': result.layerDigest,
    'size-bytes': result.sizeBytes,
    layout: result.layout ?? '',
    platform: result.images.map((image) => formatPlatform(image.platform)).join(','),
    pushed: inputs.push,
    mode: inputs.mode,
    labels: only?.plan.runtime.labels ?? {},
    ...(inputs.platforms
      ? {
          platforms: result.images.map((image) => ({
            platform: formatPlatform(image.platform),
            digest: image.digest ?? '',
            'config-digest': image.configDigest,
            'layer-digest': image.layerDigest,
            'size-bytes': image.sizeBytes,
            'signature-ref': image.signature?.reference ?? '',
            ...referrerOutputs(image.referrers),
            labels: image.labels,
          })),
        }
      : {}),
  };
  setOutputs({
    image: imageName(inputs.image),
    digest: result.digest ?? '',
    'image-ref': imageRef,
    tags: tags.join('\n'),
    'config-digest': result.configDigest,
    'layer-digest': result.layerDigest,
    'size-bytes': result.sizeBytes,
    layout: result.layout ?? '',
    'signature-ref': result.signature?.reference ?? '',
    'platform-digests': JSON.stringify(platformDigests(result)),
    metadata: JSON.stringify(metadata),
    ...referrerOutputs(result.referrers ?? []),
  });
}

/** sbom-spdx-digest, sbom-cyclonedx-digest, provenance-digest: each empty when not attached. */
function referrerOutputs(referrers: readonly Descriptor[]): Record<string, string> {
  const digestOf = (type: string): string =>
    referrers.find((referrer) => referrer.artifactType === type)?.digest ?? '';
  return {
    'sbom-spdx-digest': digestOf('application/spdx+json'),
    'sbom-cyclonedx-digest': digestOf('application/vnd.cyclonedx+json'),
    'provenance-digest': digestOf(PROVENANCE_ARTIFACT_TYPE),
  };
}

async function writeRunSummary(
  inputs: Inputs,
  tags: string[],
  children: readonly Child[],
  result: Result,
): Promise<void> {
  const { plan } = children[0] as Child;
  const images = inputs.platforms ? result.images : [];
  const facts: Array<[string, string]> = [
    ['Image', imageRefOf(inputs, result) || imageName(inputs.image)],
    [inputs.platforms ? 'Index digest' : 'Digest', result.digest ?? '(not pushed)'],
    ['Tags', tags.map((tag) => formatImageReference({ ...inputs.image, tag })).join(', ')],
    ...(inputs.platforms
      ? []
      : ([
          ['Platform', formatPlatform(plan.platform)],
          ['Layer', `${result.layerDigest} (${humanBytes(result.sizeBytes)})`],
        ] as Array<[string, string]>)),
    ...images.map((image): [string, string] => [
      formatPlatform(image.platform),
      `${image.digest ?? ''} (layer ${image.layerDigest}, ${humanBytes(image.sizeBytes)})`,
    ]),
    ...(result.signature
      ? [
          ['Signature', `${result.signature.reference} (${result.signature.digest})`] as [
            string,
            string,
          ],
        ]
      : []),
    ...images.flatMap((image): Array<[string, string]> =>
      image.signature
        ? [[`Signature ${formatPlatform(image.platform)}`, image.signature.reference]]
        : [],
    ),
    ['Created', `${plan.created} (${plan.epochFrom})`],
  ];
  if (result.uploadedBytes !== undefined) {
    facts.push(['Uploaded', humanBytes(result.uploadedBytes)]);
  }
  if (result.layout) facts.push(['OCI layout', result.layout]);
  for (const image of result.images) {
    const of = inputs.platforms ? ` (${formatPlatform(image.platform)})` : '';
    for (const referrer of image.referrers) {
      facts.push([`Attached ${referrer.artifactType}${of}`, referrer.digest]);
    }
  }
  await writeSummary('import-image', facts, [
    {
      title: 'Constituent packages',
      headers: ['Package', 'Version', 'Arch'],
      rows: children.flatMap((child) =>
        (child.plan.manifest?.packages ?? []).map((p) => [p.name, p.version, p.arch]),
      ),
    },
  ]);
}

/** What one push sends: each image with the artifacts referring to it, and what the tags name. */
interface PushSet {
  images: BuiltImage[];
  /** The SBOMs of each image, in the order of images. */
  artifacts: Artifact[][];
  tagged: TaggedManifest;
}

/**
 * Pushes blobs (skipping those present), with platforms each image's manifest by digest, then
 * what the tags name under every tag, then the artifacts referring to each image, and with
 * sign-key the signatures (of what the tags name and, with platforms, of each image), all
 * within the `timeout` input; gives the bytes of blobs sent, each image's artifact descriptors
 * and the signatures by the digest signed. At the deadline it fails saying what is in the
 * registry and what is not (the tags are put after the blobs and manifests they name, so no
 * tag names a partial image).
 */
async function pushImages(
  inputs: Inputs,
  target: PushTarget,
  { images, artifacts, tagged }: PushSet,
  tags: string[],
  uploadedEarly: ReadonlyMap<string, number> = new Map(),
): Promise<{
  uploaded: number;
  referrers: Descriptor[][];
  signatures: Map<string, PushedSignature>;
}> {
  const client = registryClient(inputs, target, { deadline: Date.now() + inputs.timeout * 1000 });
  const repository = inputs.image.repository;
  const pushLayer = async (layer: Layer): Promise<number> => {
    const early = uploadedEarly.get(layer.digest);
    if (early === undefined) return client.pushBlob(repository, layerBlob(layer));
    core.info(
      `blob ${layer.digest.slice(0, 19)} (${layer.size} bytes) was uploaded while compressed`,
    );
    return early;
  };
  const steps: Array<[string, () => Promise<number>]> = [
    ...images.flatMap((image): Array<[string, () => Promise<number>]> => [
      ...image.layers.map((layer): [string, () => Promise<number>] => [
        `layer ${layer.digest}`,
        () => pushLayer(layer),
      ]),
      [`config ${image.config.digest}`, () => client.pushBlob(repository, configBlob(image))],
      ...(image.manifest.digest === tagged.digest
        ? []
        : [
            [
              `manifest ${image.manifest.digest}`,
              () => putManifest(inputs, client, image.manifest, image.manifest.digest),
            ] as [string, () => Promise<number>],
          ]),
    ]),
    ...tags.map((tag): [string, () => Promise<number>] => [
      `tag ${tag}`,
      () => putManifest(inputs, client, tagged, tag),
    ]),
  ];
  const signed = [tagged, ...images.map((image) => image.manifest)]
    .map((manifest) => manifest.digest)
    .filter((digest, i, all) => all.indexOf(digest) === i);
  const done: string[] = [];
  try {
    await client.ping(repository);
    let uploaded = 0;
    for (const [what, step] of steps) {
      uploaded += await step();
      done.push(what);
    }
    core.info(`uploaded ${humanBytes(uploaded)} of blobs`);
    const referrers: Descriptor[][] = [];
    for (const [i, image] of images.entries()) {
      const attached: Descriptor[] = [];
      for (const artifact of artifacts[i] ?? []) {
        const referrer = await attachArtifact(client, repository, image.manifest, artifact);
        core.info(
          `${artifact.artifactType} attached to ${image.manifest.digest} as ${referrer.digest}`,
        );
        attached.push(referrer);
        done.push(`${artifact.artifactType} ${referrer.digest}`);
      }
      referrers.push(attached);
    }
    const signatures = new Map<string, PushedSignature>();
    for (const digest of inputs.signKey ? signed : []) {
      const signature = await pushSignature(client, inputs.signKey as KeyObject, {
        repository,
        registryRepository: imageName(inputs.image),
        digest,
      });
      signatures.set(digest, signature);
      done.push(`signature ${signature.reference}`);
    }
    return { uploaded, referrers, signatures };
  } catch (error) {
    if (!(error instanceof DeadlineError)) throw error;
    const left = steps.slice(done.length).map(([what]) => what);
    const later = [
      ...artifacts
        .flat()
        .slice(Math.max(0, done.length - steps.length))
        .map((a) => a.artifactType),
      ...(inputs.signKey ? [signed.length > 1 ? 'the signatures' : 'the signature'] : []),
    ];
    throw pushOutOfTime(inputs, error, done, [...left, ...later]);
  } finally {
    client.close();
  }
}

/** The failure of a push that reached the `timeout` deadline, saying what is in the registry. */
function pushOutOfTime(
  inputs: Inputs,
  error: DeadlineError,
  pushed: string[],
  notPushed: string[],
): UserError {
  return new UserError(
    `The push to ${inputs.image.registry} did not finish within timeout (${inputs.timeout} s): ${error.message}. Pushed: ${pushed.join(', ') || 'nothing'}; not pushed: ${notPushed.join(', ')}.`,
  );
}

function layerBlob(layer: Layer): PushBlob {
  return { digest: layer.digest, size: layer.size, file: layer.file };
}

function configBlob({ config }: BuiltImage): PushBlob {
  return { digest: config.digest, size: config.size, bytes: config.bytes };
}

/** A manifest (an image's or the index) under `reference`, checked to be stored under our digest. */
async function putManifest(
  inputs: Inputs,
  client: RegistryClient,
  manifest: TaggedManifest,
  reference: string,
): Promise<number> {
  const repository = inputs.image.repository;
  const answered = await client.putManifest(
    repository,
    reference,
    manifest.mediaType,
    manifest.bytes,
  );
  if (answered && answered !== manifest.digest) {
    throw new UserError(
      `Registry ${inputs.image.registry} stored the manifest as ${answered}, not ${manifest.digest}.`,
    );
  }
  if (reference !== manifest.digest) {
    core.info(`${formatImageReference({ ...inputs.image, tag: reference })} → ${manifest.digest}`);
  }
  return 0;
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
