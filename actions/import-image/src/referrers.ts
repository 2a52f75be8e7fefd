import { UserError } from '../../core/src/errors.js';
import { MEDIA_TYPES, digestOf } from './oci.js';
import type { RegistryClient } from '../../core/src/registry.js';

/**
 * Artifacts attached to a pushed image as OCI 1.1 referrers (docs/dev/sbom.md): an image
 * manifest with `artifactType`, the empty config, the artifact as its one layer, and `subject`
 * naming the image. A registry with the referrers API says so with `OCI-Subject` on the push;
 * one without (Debian's docker-registry 2.8) gets the referrers tag schema, kept by the client:
 * the tag `sha256-<hex>` of the subject holds an image index of every referrer, to which each
 * push adds its descriptor. Any artifact kind (an SBOM, provenance) goes through here.
 */

export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  bytes: Buffer.from('{}'),
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Artifact {
  /** The manifest's `artifactType`, e.g. `application/spdx+json`. */
  artifactType: string;
  /** The layer's media type (usually the artifact type itself). */
  mediaType: string;
  bytes: Buffer;
  /** The manifest's annotations (copied into the referrers index). */
  annotations: Record<string, string>;
}

export interface ArtifactManifest {
  descriptor: Descriptor;
  bytes: Buffer;
}

/** The artifact's image manifest referring to `subject` (pure; same input, same bytes). */
export function artifactManifest(subject: Descriptor, artifact: Artifact): ArtifactManifest {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    artifactType: artifact.artifactType,
    config: {
      mediaType: EMPTY_CONFIG.mediaType,
      digest: digestOf(EMPTY_CONFIG.bytes),
      size: EMPTY_CONFIG.bytes.length,
    },
    layers: [
      {
        mediaType: artifact.mediaType,
        digest: digestOf(artifact.bytes),
        size: artifact.bytes.length,
      },
    ],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: artifact.annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    bytes,
    descriptor: {
      mediaType: MEDIA_TYPES.manifest,
      digest: digestOf(bytes),
      size: bytes.length,
      artifactType: artifact.artifactType,
      annotations: artifact.annotations,
    },
  };
}

/** The referrers tag of a subject digest: `sha256:<hex>` → `sha256-<hex>` (pure). */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

const INDEX_MEDIA_TYPE = MEDIA_TYPES.index;

interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

/** `existing` with `added` appended unless a descriptor of its digest is there (pure). */
export function mergeReferrers(existing: ReferrersIndex | undefined, added: Descriptor): Buffer {
  const manifests = existing?.manifests ?? [];
  const merged = manifests.some((entry) => entry.digest === added.digest)
    ? manifests
    : [...manifests, added];
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: merged }),
  );
}

/** The index under the referrers tag, or undefined when the tag does not exist. */
async function readReferrersIndex(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<ReferrersIndex | undefined> {
  const response = await client.withRetries(`GET manifest ${tag}`, () =>
    client.request(
      {
        method: 'GET',
        url: `/v2/${repository}/manifests/${tag}`,
        headers: { accept: INDEX_MEDIA_TYPE },
        repository,
      },
      [200, 404],
    ),
  );
  if (response.status === 404) return undefined;
  const index = JSON.parse(response.body.toString('utf8')) as Partial<ReferrersIndex>;
  if (index.mediaType !== INDEX_MEDIA_TYPE || !Array.isArray(index.manifests)) {
    throw new UserError(
      `The tag ${tag} of ${repository} is not an OCI image index of referrers; remove it or choose another repository.`,
    );
  }
  return index as ReferrersIndex;
}

/**
 * Pushes the artifact (its blobs, then its manifest by digest) as a referrer of `subject`, and
 * lists it under the referrers tag when the registry does not keep referrers itself.
 */
export async function attachArtifact(
  client: RegistryClient,
  repository: string,
  subject: Descriptor,
  artifact: Artifact,
): Promise<Descriptor> {
  const made = artifactManifest(subject, artifact);
  await client.pushBlob(repository, {
    digest: digestOf(EMPTY_CONFIG.bytes),
    size: EMPTY_CONFIG.bytes.length,
    bytes: EMPTY_CONFIG.bytes,
  });
  await client.pushBlob(repository, {
    digest: digestOf(artifact.bytes),
    size: artifact.bytes.length,
    bytes: artifact.bytes,
  });
  const response = await client.withRetries(`PUT manifest ${made.descriptor.digest}`, () =>
    client.request(
      {
        method: 'PUT',
        url: `/v2/${repository}/manifests/${made.descriptor.digest}`,
        headers: { 'content-type': MEDIA_TYPES.manifest },
        body: made.bytes,
        repository,
      },
      [200, 201],
    ),
  );
  if (response.headers['oci-subject'] === subject.digest) return made.descriptor;
  const tag = referrersTag(subject.digest);
  const index = mergeReferrers(await readReferrersIndex(client, repository, tag), made.descriptor);
  await client.putManifest(repository, tag, INDEX_MEDIA_TYPE, index);
  return made.descriptor;
}
