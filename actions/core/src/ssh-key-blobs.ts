import { createHash } from 'node:crypto';

/**
 * SSH public key blobs: the wire format (a run of uint32-length-prefixed strings, the first one
 * the key type) that known_hosts and authorized_keys lines carry in base64.
 */

/** The wire-format string at `offset` and the offset after it; undefined when it runs past the end. */
function wireStringAt(blob: Buffer, offset: number): { value: Buffer; next: number } | undefined {
  if (offset + 4 > blob.length) return undefined;
  const start = offset + 4;
  const end = start + blob.readUInt32BE(offset);
  if (end > blob.length) return undefined;
  return { value: blob.subarray(start, end), next: end };
}

/** Every wire-format string of a blob; undefined when a length runs past the end. */
export function wireStrings(blob: Buffer): Buffer[] | undefined {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < blob.length;) {
    const part = wireStringAt(blob, offset);
    if (!part) return undefined;
    parts.push(part.value);
    offset = part.next;
  }
  return parts;
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string | undefined {
  const first = wireStringAt(blob, 0);
  if (!first || first.value.length === 0 || first.value.length > 64) return undefined;
  return first.value.toString('latin1');
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
