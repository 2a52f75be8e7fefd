import { createHash, verify, type KeyObject } from 'node:crypto';

/**
 * The sigstore attachment format that import-image's sign-key writes and deploy-fleet's
 * verify-key checks (docs/dev/image-signatures.md): for a manifest digest, an OCI manifest under
 * the tag `sha256-<hex>.sig` whose layers are simple-signing payloads, each with its ECDSA P-256
 * signature (DER, base64) in an annotation.
 */

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const PAYLOAD_TYPE = 'cosign container image signature';

/** The tag a signature of `digest` lives under (cosign's and containers/image's convention). */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The simple-signing payload that names `digest` as an image of `repository` (pure; fixed key order). */
export function simpleSigningPayload(repository: string, digest: string): Buffer {
  const payload = {
    critical: {
      identity: { 'docker-reference': repository },
      image: { 'docker-manifest-digest': digest },
      type: PAYLOAD_TYPE,
    },
    optional: null,
  };
  return Buffer.from(JSON.stringify(payload));
}

/** What a payload claims: the image it names, or undefined when it is not a simple-signing payload. */
export function payloadClaims(
  payload: Buffer,
): { dockerReference: string; manifestDigest: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const critical = (parsed as { critical?: Record<string, unknown> } | null)?.critical;
  const identity = critical?.identity as Record<string, unknown> | undefined;
  const image = critical?.image as Record<string, unknown> | undefined;
  const dockerReference = identity?.['docker-reference'];
  const manifestDigest = image?.['docker-manifest-digest'];
  if (critical?.type !== PAYLOAD_TYPE) return undefined;
  if (typeof dockerReference !== 'string' || typeof manifestDigest !== 'string') return undefined;
  return { dockerReference, manifestDigest };
}

/** True when `signature` (an annotation's base64 DER) is `publicKey`'s signature of `payload`. */
export function signatureVerifies(
  payload: Buffer,
  signature: string | undefined,
  publicKey: KeyObject,
): boolean {
  if (!signature) return false;
  try {
    return verify('sha256', payload, publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** A public key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo, as `sha256:<hex>`. */
export function keyFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}
