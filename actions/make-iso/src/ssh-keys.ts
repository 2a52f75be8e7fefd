import { wireStrings } from '../../core/src/ssh-key-blobs.js';

/**
 * OpenSSH public keys (`type base64-blob [comment]`), validated by parsing: the blob must be
 * base64 of the SSH wire format whose first string is the same key type, and the key inside must
 * have a plausible shape (32-byte ed25519 point, RSA of at least 2048 bits, the named curve).
 */

export const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export interface PublicKey {
  type: string;
  blob: string;
  comment?: string;
  /** `type blob comment`, normalised to single spaces. */
  line: string;
}

function mpintBits(value: Buffer): number {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  if (start === value.length) return 0;
  return (value.length - start - 1) * 8 + (value[start] as number).toString(2).length;
}

/** Parses one public-key line; the error says what is wrong with it (not the key itself). */
export function parsePublicKey(line: string): PublicKey {
  const words = line.trim().split(/\s+/);
  const [type = '', blob = '', ...comment] = words;
  if (!(KEY_TYPES as readonly string[]).includes(type)) {
    throw new Error(
      `"${type.slice(0, 40)}" is not an SSH public key type (${KEY_TYPES.join(', ')}); authorized_keys options are not accepted`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) {
    throw new Error(`the ${type} key's data is not base64`);
  }
  const decoded = Buffer.from(blob, 'base64');
  const parts = wireStrings(decoded);
  if (!parts) throw new Error(`the ${type} key's data is not an SSH public key blob (truncated)`);
  const embedded = parts[0]?.toString('latin1') ?? '';
  if (embedded !== type) {
    throw new Error(`the key says ${type} but its data is a ${embedded || 'nameless'} key`);
  }
  if (type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') {
    if (parts[1]?.length !== 32) throw new Error(`the ${type} key is not 32 bytes`);
  } else if (type === 'ssh-rsa') {
    const bits = parts[2] ? mpintBits(parts[2]) : 0;
    if (parts.length !== 3 || bits < 2048) {
      throw new Error(`the ssh-rsa key has ${bits} bits; use at least 2048 (or ed25519)`);
    }
  } else {
    const curve = type.replace(/^(sk-)?ecdsa-sha2-/, '').replace(/@openssh\.com$/, '');
    if (parts[1]?.toString('latin1') !== curve || !parts[2] || parts[2][0] !== 4) {
      throw new Error(`the ${type} key does not hold a ${curve} point`);
    }
  }
  const text = comment.join(' ');
  return {
    type,
    blob,
    comment: text || undefined,
    line: [type, blob, ...(text ? [text] : [])].join(' '),
  };
}
