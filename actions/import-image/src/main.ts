import * as core from '@actions/core';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { humanBytes, makePrivateTempDir } from '../../core/src/files.js';
import { formatImageReference } from '../../core/src/image-ref.js';
import {
  MANIFEST_PATH_IN_ROOT,
  parseManifest,
  readManifest,
  type Manifest,
} from '../../core/src/manifest.js';
import {
  MEDIA_TYPES,
  digestOf,
  imageConfigJson,
  imageManifestJson,
  layerFromRoot,
  layerFromTarball,
  readFileFromTarball,
  writeOciLayout,
  type BuiltImage,
  type Layer,
  type RuntimeConfig,
} from './oci.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { RegistryClient } from './registry.js';
import { sourceDateEpoch } from '../../core/src/tar.js';
import {
  formatPlatform,
  imageLabels,
  isoOf,
  platformForArch,
  resolveEpoch,
  resolveTags,
} from './config.js';
import { dockerImportAndPush } from './docker.js';
import { getInputs, type Inputs } from './inputs.js';
import { openTunnel, type Tunnel } from './tunnel.js';

async function loadManifest(inputs: Inputs): Promise<Manifest | undefined> {
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

interface Result {
  digest?: string;
  configDigest: string;
  layerDigest: string;
  sizeBytes: number;
  uploadedBytes?: number;
}

export async function run(): Promise<void> {
  const inputs = await getInputs();
  const manifest = await core.group('Manifest', async () => {
    const found = await loadManifest(inputs);
    if (found) {
      core.info(
        `${found.app ? `${found.app.name} ${found.app.version}, ` : ''}${found.packages.length} packages, ${found.arch}`,
      );
    } else {
      core.warning('No manifest: the image gets no version or package labels.');
    }
    return found;
  });
  const tags = resolveTags(inputs.tags, inputs.image, manifest);
  let platform = inputs.platform ?? (manifest ? platformForArch(manifest.arch) : undefined);
  if (!platform) {
    if (manifest) {
      throw new UserError(
        `The manifest's arch "${manifest.arch}" has no known platform; set the "platform" input.`,
      );
    }
    platform = { os: 'linux', architecture: 'amd64' };
  }
  const { epoch, from } = resolveEpoch(sourceDateEpoch(), manifest);
  const created = isoOf(epoch);
  const labels = imageLabels(
    manifest,
    created,
    inputs.image.repository.split('/').pop() ?? '',
    inputs.labels,
  );
  const runtime: RuntimeConfig = {
    entrypoint: inputs.entrypoint,
    cmd: inputs.cmd,
    env: inputs.env,
    workdir: inputs.workdir,
    user: inputs.user,
    exposedPorts: inputs.exposedPorts,
    labels,
  };
  const work = await makePrivateTempDir('import-image');
  let tunnel: Tunnel | undefined;
  try {
    const layer = await core.group('Layer', async () => {
      core.info(`mtimes clamped to ${created} (${from}); every entry owned by root`);
      const file = path.join(work, 'layer.tar.gz');
      const made: Layer = inputs.root
        ? await layerFromRoot(inputs.root, file, { mtimeClamp: epoch })
        : await layerFromTarball(inputs.tarball as string, file, { mtimeClamp: epoch });
      core.info(
        `${made.digest}: ${humanBytes(made.size)} compressed, ${humanBytes(made.uncompressedSize)} of tar (diffID ${made.diffId})`,
      );
      return made;
    });

    if (inputs.push && inputs.sshTunnel) {
      tunnel = await core.group('SSH tunnel', () =>
        openTunnel(
          inputs.sshTunnel as NonNullable<Inputs['sshTunnel']>,
          inputs.image.registry,
          inputs.plainHttp,
        ),
      );
    }
    const address = tunnel?.address ?? inputs.image.registry;

    let result: Result;
    let layout: string | undefined;
    if (inputs.mode === 'docker') {
      result = await dockerImportAndPush({
        layer,
        runtime,
        platform,
        repository: inputs.image.repository,
        imageName: inputs.imageName,
        pushAddress: address,
        tags,
        push: inputs.push,
        plainHttp: inputs.plainHttp,
        username: inputs.registryUsername,
        password: inputs.registryPassword,
        work,
      });
    } else {
      const configBytes = imageConfigJson(platform, created, runtime, [layer.diffId]);
      const config = {
        mediaType: MEDIA_TYPES.config,
        digest: digestOf(configBytes),
        size: configBytes.length,
        bytes: configBytes,
      };
      const manifestBytes = imageManifestJson(
        config,
        [layer],
        Object.fromEntries(inputs.annotations),
      );
      const image: BuiltImage = {
        layer,
        config,
        manifest: {
          mediaType: MEDIA_TYPES.manifest,
          digest: digestOf(manifestBytes),
          size: manifestBytes.length,
          bytes: manifestBytes,
        },
        platform,
      };
      core.info(`image ${image.manifest.digest} (config ${config.digest})`);
      let uploadedBytes: number | undefined;
      if (inputs.push) {
        uploadedBytes = await core.group(`Push to ${inputs.image.registry}`, () =>
          pushImage(inputs, address, image, tags),
        );
      }
      // Written after a successful push, so a failed run leaves no output behind.
      if (inputs.output) {
        const output = inputs.output;
        const kind = await core.group('OCI layout', () =>
          writeOciLayout(output, image, tags, epoch),
        );
        core.info(`wrote the OCI ${kind === 'archive' ? 'archive' : 'layout directory'} ${output}`);
        layout = output;
      }
      result = {
        digest: image.manifest.digest,
        configDigest: config.digest,
        layerDigest: layer.digest,
        sizeBytes: layer.size,
        uploadedBytes,
      };
    }

    const imageRef = result.digest ? `${inputs.imageName}@${result.digest}` : '';
    const metadata = {
      image: inputs.imageName,
      digest: result.digest ?? '',
      'image-ref': imageRef,
      tags,
      'config-digest': result.configDigest,
      'layer-digest': result.layerDigest,
      'size-bytes': result.sizeBytes,
      layout: layout ?? '',
      platform: formatPlatform(platform),
      pushed: inputs.push,
      mode: inputs.mode,
      labels,
    };
    setOutputs({
      digest: result.digest ?? '',
      'image-ref': imageRef,
      tags: tags.join('\n'),
      'config-digest': result.configDigest,
      'layer-digest': result.layerDigest,
      'size-bytes': result.sizeBytes,
      layout: layout ?? '',
      metadata: JSON.stringify(metadata),
    });
    const facts: Array<[string, string]> = [
      ['Image', imageRef || inputs.imageName],
      ['Digest', result.digest ?? '(not pushed)'],
      ['Tags', tags.map((tag) => formatImageReference({ ...inputs.image, tag })).join(', ')],
      ['Platform', formatPlatform(platform)],
      ['Layer', `${result.layerDigest} (${humanBytes(result.sizeBytes)})`],
      ['Created', `${created} (${from})`],
    ];
    if (result.uploadedBytes !== undefined) {
      facts.push(['Uploaded', humanBytes(result.uploadedBytes)]);
    }
    if (layout) facts.push(['OCI layout', layout]);
    await writeSummary('import-image', facts, [
      {
        title: 'Constituent packages',
        headers: ['Package', 'Version', 'Arch'],
        rows: (manifest?.packages ?? []).map((p) => [p.name, p.version, p.arch]),
      },
    ]);
  } finally {
    await tunnel?.close();
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Pushes blobs (skipping those present) and the manifest under every tag; returns bytes sent. */
async function pushImage(
  inputs: Inputs,
  address: string,
  image: BuiltImage,
  tags: string[],
): Promise<number> {
  const client = new RegistryClient({
    address,
    displayName: inputs.image.registry,
    serverName: address === inputs.image.registry ? undefined : inputs.image.registry,
    insecure: inputs.plainHttp,
    username: inputs.registryUsername,
    password: inputs.registryPassword,
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
    return uploaded;
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
