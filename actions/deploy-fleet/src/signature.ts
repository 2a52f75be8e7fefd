import * as core from '../../core/src/runner.js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { InputError, UserError, messageOf } from '../../core/src/errors.js';
import { sha256 } from '../../core/src/files.js';
import { isPrivateAddress, parseHostPort } from '../../core/src/host-port.js';
import {
  formatImageReference,
  isLoopbackRegistry,
  parseImageReference,
  type ImageReference,
} from '../../core/src/image-ref.js';
import { RegistryClient } from '../../core/src/registry.js';
import {
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  keyFingerprint,
  payloadClaims,
  signatureTag,
  signatureVerifies,
  simpleSigningPayload,
} from '../../core/src/simple-signing.js';
import type { MasterLink } from './link.js';

/**
 * verify-key: deploy only a digest that carries a valid signature by the key, in the format
 * import-image's sign-key writes (docs/dev/image-signatures.md). The cluster's docker reads no
 * signature policy, so the check is made here and the unit pins the digest it checked.
 */

/** The verify-key input as an EC P-256 public key (cosign.pub); anything else is an input error. */
export function parseVerifyKey(pem: string): KeyObject {
  // createPublicKey would take a private key too: refuse one, it belongs in no plain input.
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new InputError(
      'verify-key',
      'is a private key; give its public key (openssl ec -in key.pem -pubout), as cosign.pub.',
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new InputError(
      'verify-key',
      'is not a PEM public key (-----BEGIN PUBLIC KEY-----, as cosign.pub or openssl ec -pubout write).',
    );
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new InputError(
      'verify-key',
      `is a ${key.asymmetricKeyType ?? 'unknown'} key${details?.namedCurve ? ` on ${details.namedCurve}` : ''}; give an EC P-256 (prime256v1) public key, as cosign's are.`,
    );
  }
  return key;
}

/** The image may not be deployed: one line naming the image, the digest and why. */
export class SignatureRefusedError extends UserError {
  override name = 'SignatureRefusedError';
}

export interface VerifiedDigest {
  digest: string;
  /** The key's fingerprint (keyFingerprint). */
  fingerprint: string;
}

export interface SignatureLayer {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

/** Why one signature layer does not admit the digest, most telling first; undefined admits it. */
type LayerVerdict =
  | { kind: 'other-image'; why: string }
  | { kind: 'changed'; why: string }
  | { kind: 'other-key' }
  | { kind: 'missing'; why: string };

const VERDICT_ORDER: ReadonlyArray<LayerVerdict['kind']> = [
  'other-image',
  'changed',
  'other-key',
  'missing',
];

/** True when a payload's docker-reference names the image's repository (a tag or digest aside). */
function namesRepository(dockerReference: string, image: ImageReference): boolean {
  try {
    const named = parseImageReference(dockerReference);
    return named.registry === image.registry && named.repository === image.repository;
  } catch {
    return false;
  }
}

/**
 * The check containers/image makes (docs/dev/image-signatures.md): the signature over the
 * payload's exact bytes first, its claims only after that. A signature that fails, but that the
 * key made over the payload as a signer writes it, shows a payload changed after signing.
 */
function judgeLayer(
  layer: SignatureLayer,
  payload: Buffer | undefined,
  image: ImageReference,
  digest: string,
  key: KeyObject,
): LayerVerdict | undefined {
  if (!payload)
    return { kind: 'missing', why: `no signature: its payload blob ${layer.digest} is missing` };
  const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (`sha256:${sha256(payload)}` !== layer.digest) {
    return { kind: 'changed', why: `the payload blob is not ${layer.digest}` };
  }
  const claims = payloadClaims(payload);
  if (!signatureVerifies(payload, signature, key)) {
    const asSigned = [simpleSigningPayload(`${image.registry}/${image.repository}`, digest)];
    if (claims) asSigned.push(simpleSigningPayload(claims.dockerReference, claims.manifestDigest));
    return asSigned.some((original) => signatureVerifies(original, signature, key))
      ? { kind: 'changed', why: 'payload not the signed one: it was changed after signing' }
      : { kind: 'other-key' };
  }
  if (!claims)
    return { kind: 'changed', why: 'the signed payload is not a simple-signing payload' };
  if (claims.manifestDigest !== digest) {
    return { kind: 'other-image', why: `signed for another digest (${claims.manifestDigest})` };
  }
  if (!namesRepository(claims.dockerReference, image)) {
    return { kind: 'other-image', why: `signed for another image (${claims.dockerReference})` };
  }
  return undefined;
}

/** One layer of a signature manifest and its payload blob as the registry gave it (or none). */
export interface FetchedSignature {
  layer: SignatureLayer;
  payload: Buffer | undefined;
}

/**
 * Why the signatures do not admit `digest` as an image of `image` for `key`, or undefined when
 * one does (pure: the registry was read before).
 */
export function refusalReason(
  image: ImageReference,
  digest: string,
  key: KeyObject,
  signatures: readonly FetchedSignature[],
): string | undefined {
  const layers = signatures.filter(({ layer }) => layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);
  if (layers.length === 0)
    return `no signature (${signatureTag(digest)} holds no simple-signing layer)`;
  const verdicts: LayerVerdict[] = [];
  for (const { layer, payload } of layers) {
    const verdict = judgeLayer(layer, payload, image, digest, key);
    if (!verdict) return undefined;
    verdicts.push(verdict);
  }
  const [worst] = verdicts.sort(
    (a, b) => VERDICT_ORDER.indexOf(a.kind) - VERDICT_ORDER.indexOf(b.kind),
  );
  if (!worst || worst.kind === 'other-key') {
    return `not signed by this key (${layers.length} signature(s), none verifies with it)`;
  }
  return worst.why;
}

/**
 * Resolves the image to a digest (a tag → the registry's manifest digest; a digest as it is) and
 * accepts it only when one layer of its signature manifest verifies with `key` and names it;
 * otherwise throws a SignatureRefusedError saying why.
 */
export async function verifyImageSignature(
  client: RegistryClient,
  image: ImageReference,
  key: KeyObject,
): Promise<VerifiedDigest> {
  const fingerprint = keyFingerprint(key);
  const named = formatImageReference(image);
  let digest = image.digest;
  if (!digest) {
    const found = await client.findManifest(image.repository, image.tag ?? 'latest');
    if (!found) throw new SignatureRefusedError(`Refused to deploy ${named}: no such tag.`);
    digest = found.digest ?? `sha256:${sha256(found.bytes)}`;
  }
  const refuse = (why: string): never => {
    throw new SignatureRefusedError(
      `Refused to deploy ${named} (digest ${digest}): ${why} (verify-key ${fingerprint}).`,
    );
  };
  const tag = signatureTag(digest);
  const manifest = await client.findManifest(image.repository, tag);
  if (!manifest) return refuse(`no signature (no ${tag} in ${image.repository})`);
  let layers: SignatureLayer[];
  try {
    layers = (JSON.parse(manifest.bytes.toString()) as { layers?: SignatureLayer[] }).layers ?? [];
  } catch {
    return refuse(`no signature (${tag} is not a JSON manifest)`);
  }
  const signatures: FetchedSignature[] = [];
  for (const layer of layers) {
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    signatures.push({ layer, payload: await client.findBlob(image.repository, layer.digest) });
  }
  const why = refusalReason(image, digest, key, signatures);
  return why === undefined ? { digest, fingerprint } : refuse(why);
}

/**
 * The check through the SSH link: the registry is reached at the image's address as the master
 * reaches it (where the machines pull from), plain HTTP for a loopback or private address (the
 * master's registry, docker's insecure-registries), verified HTTPS otherwise.
 */
export async function checkSignature(
  connection: MasterLink,
  image: ImageReference,
  key: KeyObject,
  deadline: number,
): Promise<VerifiedDigest> {
  const plainHttp = isLoopbackRegistry(image.registry) || isPrivateRegistry(image.registry);
  const target = parseHostPort(image.registry, plainHttp ? 80 : 443);
  const forward = await connection.forwardLocalPort(target.host, target.port);
  const client = new RegistryClient({
    address: `127.0.0.1:${forward.port}`,
    serverName: image.registry,
    displayName: image.registry,
    insecure: plainHttp,
    deadline,
    log: (line) => core.info(line),
  });
  try {
    const verified = await verifyImageSignature(client, image, key);
    core.info(
      `verify-key: ${image.registry}/${image.repository}@${verified.digest} is signed by key ${verified.fingerprint}; the unit runs that digest.`,
    );
    return verified;
  } catch (error) {
    if (error instanceof SignatureRefusedError || !(error instanceof UserError)) throw error;
    throw new SignatureRefusedError(
      `Refused to deploy ${formatImageReference(image)}: its signature could not be read: ${messageOf(error)}`,
    );
  } finally {
    client.close();
    await forward.close();
  }
}

function isPrivateRegistry(registry: string): boolean {
  try {
    return isPrivateAddress(parseHostPort(registry, 80).host);
  } catch {
    return false;
  }
}
