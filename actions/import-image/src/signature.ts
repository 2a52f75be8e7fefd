import * as core from '@actions/core';
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { InputError } from '../../core/src/errors.js';
import { sha256 } from '../../core/src/files.js';
import type { RegistryClient } from '../../core/src/registry.js';
import {
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  signatureTag,
  signatureVerifies,
  simpleSigningPayload,
} from '../../core/src/simple-signing.js';

/**
 * sign-key: a signature of each pushed manifest digest in the format containers/image and cosign
 * read (docs/dev/image-signatures.md): a simple-signing payload, pushed as the one layer of an OCI
 * manifest tagged `sha256-<hex>.sig`, its ECDSA signature in the layer's annotation.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** The sign-key input as a P-256 private key; anything else is an input error. */
export function parseSigningKey(pem: string): KeyObject {
  if (pem.includes('ENCRYPTED SIGSTORE PRIVATE KEY') || pem.includes('ENCRYPTED PRIVATE KEY')) {
    throw new InputError(
      'sign-key',
      'is an encrypted key; give an unencrypted PEM EC P-256 private key (openssl ecparam -name prime256v1 -genkey, or openssl pkcs8 -topk8 -nocrypt of yours) kept in a secret.',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new InputError(
      'sign-key',
      'is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----).',
    );
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new InputError(
      'sign-key',
      `is a ${key.asymmetricKeyType ?? 'unknown'} key${details?.namedCurve ? ` on ${details.namedCurve}` : ''}; give an EC key on P-256 (prime256v1), as cosign's are.`,
    );
  }
  return key;
}

interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  annotations?: Record<string, string>;
}

function descriptorOf(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, size: bytes.length, digest: `sha256:${sha256(bytes)}` };
}

/** The signature manifest's config: an empty image whose layers are the payloads. */
function signatureConfig(layers: readonly Descriptor[]): Buffer {
  const zeroTime = '0001-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      config: {},
      created: zeroTime,
      history: [{ created: zeroTime }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
    }),
  );
}

/** The signature manifest already under the tag, and its signature layers. */
async function existingSignatures(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<{ digest?: string; layers: Descriptor[] }> {
  const found = await client.findManifest(repository, tag);
  if (!found) return { layers: [] };
  const manifest = JSON.parse(found.bytes.toString()) as { layers?: Descriptor[] };
  const layers = (manifest.layers ?? []).filter(
    (layer) => layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE,
  );
  return { digest: found.digest ?? `sha256:${sha256(found.bytes)}`, layers };
}

export interface PushedSignature {
  /** `registry/repository:sha256-<hex>.sig`. */
  reference: string;
  /** The signature manifest's digest. */
  digest: string;
  /** True when the tag already held a valid signature of this digest by this key. */
  existed: boolean;
}

/**
 * Signs `digest` as an image of `repository` (named `registryRepository` in the payload, as pulls
 * name it) and pushes the signature; a signature by another key already there is kept beside it.
 */
export async function pushSignature(
  client: RegistryClient,
  key: KeyObject,
  target: { repository: string; registryRepository: string; digest: string },
): Promise<PushedSignature> {
  const { repository, registryRepository, digest } = target;
  const tag = signatureTag(digest);
  const reference = `${registryRepository}:${tag}`;
  const payload = simpleSigningPayload(registryRepository, digest);
  const payloadLayer = descriptorOf(SIMPLE_SIGNING_MEDIA_TYPE, payload);
  const publicKey = createPublicKey(key);
  const existing = await existingSignatures(client, repository, tag);
  const ours = existing.layers.find(
    (layer) =>
      layer.digest === payloadLayer.digest &&
      signatureVerifies(payload, layer.annotations?.[SIGNATURE_ANNOTATION], publicKey),
  );
  if (ours && existing.digest) {
    core.info(`${reference}: already signed by this key`);
    return { reference, digest: existing.digest, existed: true };
  }
  const signature = sign('sha256', payload, key).toString('base64');
  const layers = [
    ...existing.layers,
    { ...payloadLayer, annotations: { [SIGNATURE_ANNOTATION]: signature } },
  ];
  const config = signatureConfig(layers);
  const configDescriptor = descriptorOf(OCI_CONFIG, config);
  await client.pushBlob(repository, {
    digest: payloadLayer.digest,
    size: payload.length,
    bytes: payload,
  });
  await client.pushBlob(repository, {
    digest: configDescriptor.digest,
    size: config.length,
    bytes: config,
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDescriptor,
      layers,
    }),
  );
  await client.putManifest(repository, tag, OCI_MANIFEST, manifest);
  const manifestDigest = `sha256:${sha256(manifest)}`;
  core.info(`${reference} → ${manifestDigest} (signed ${digest})`);
  return { reference, digest: manifestDigest, existed: false };
}
