import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../scripts/lib/project-root.js';

export const SAMPLES = path.join(projectRoot, 'workflows-examples', 'samples');

/** The documented example input set (workflows-examples/samples/cloud-config.inputs.yml). */
export function exampleInputs(): Record<string, string> {
  const text = fs.readFileSync(path.join(SAMPLES, 'cloud-config.inputs.yml'), 'utf8');
  return parseYaml(text) as Record<string, string>;
}

function wireString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

function mpint(data: Buffer): Buffer {
  return wireString((data[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), data]) : data);
}

/** A fresh OpenSSH public-key line made with node:crypto (no ssh-keygen needed). */
export function publicKeyLine(
  type: 'ssh-ed25519' | 'ssh-rsa' | 'ecdsa-sha2-nistp256',
  comment = 'test@arch-core',
  rsaBits = 2048,
): string {
  let blob: Buffer;
  if (type === 'ssh-ed25519') {
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    blob = Buffer.concat([wireString(type), wireString(raw)]);
  } else if (type === 'ssh-rsa') {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: rsaBits });
    const jwk = publicKey.export({ format: 'jwk' });
    blob = Buffer.concat([
      wireString(type),
      mpint(Buffer.from(jwk.e as string, 'base64url')),
      mpint(Buffer.from(jwk.n as string, 'base64url')),
    ]);
  } else {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x as string, 'base64url'),
      Buffer.from(jwk.y as string, 'base64url'),
    ]);
    blob = Buffer.concat([wireString(type), wireString('nistp256'), wireString(point)]);
  }
  return `${type} ${blob.toString('base64')} ${comment}`;
}
