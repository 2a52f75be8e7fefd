import { createHmac, timingSafeEqual } from 'node:crypto';
import { UserError } from './errors.js';
import { fingerprintOf, keyTypeOf } from './ssh-key-blobs.js';

/**
 * known_hosts lines (plain, `[host]:port`, comma lists, wildcards, hashed `|1|salt|hash`
 * entries) and the check of a presented host key against them.
 */

/** The host presented a key other than the one known-hosts holds for it. */
export class HostKeyMismatchError extends UserError {
  override name = 'HostKeyMismatchError';
}

/** The host is not in known-hosts at all (strict checking on). */
export class UnknownHostError extends UserError {
  override name = 'UnknownHostError';
}

export interface KnownHostEntry {
  marker?: '@cert-authority' | '@revoked';
  /** The host field as written: a comma list of patterns, or one hashed `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The key blob (SSH wire format). */
  key: Buffer;
  line: number;
}

/** Parses known_hosts text; comments and blank lines skipped, a malformed line is an error. */
export function parseKnownHosts(text: string, what = 'known-hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      if (fields[0] !== '@cert-authority' && fields[0] !== '@revoked') {
        throw new UserError(`${what} line ${index + 1}: unknown marker "${fields[0]}".`);
      }
      marker = fields.shift() as KnownHostEntry['marker'];
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyText)) {
      throw new UserError(
        `${what} line ${index + 1} is not a known_hosts line ("host key-type base64-key"): "${truncate(line)}".`,
      );
    }
    const key = Buffer.from(keyText, 'base64');
    if (keyTypeOf(key) !== keyType) {
      throw new UserError(
        `${what} line ${index + 1}: the key is not of the type "${keyType}" it names.`,
      );
    }
    entries.push({ marker, hosts, keyType, key, line: index + 1 });
  });
  return entries;
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether a known_hosts host field matches `name` (as made by knownHostsName). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatches(glob.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function globMatches(glob: string, name: string): boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(name);
}

export type HostKeyVerdict = { ok: true; known: boolean } | { ok: false; error: UserError };

/**
 * Checks the key a host presented against the known_hosts entries. Pure: the connection code
 * and the unit tests share it.
 */
export function verifyHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  presented: Buffer,
  strict: boolean,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const type = keyTypeOf(presented) ?? 'unknown';
  const presentedText = `${type} ${fingerprintOf(presented)}`;
  const forHost = entries.filter((entry) => hostFieldMatches(entry.hosts, name));
  if (forHost.some((entry) => entry.marker === '@revoked' && entry.key.equals(presented))) {
    return {
      ok: false,
      error: new HostKeyMismatchError(
        `Host key verification failed for ${name}: its key ${presentedText} is marked @revoked in known-hosts.`,
      ),
    };
  }
  const plain = forHost.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(presented))) return { ok: true, known: true };
  if (plain.length > 0) {
    const sameType = plain.filter((entry) => entry.keyType === type);
    const expected = (sameType.length > 0 ? sameType : plain)
      .map(
        (entry) => `${entry.keyType} ${fingerprintOf(entry.key)} (known-hosts line ${entry.line})`,
      )
      .join(', ');
    return {
      ok: false,
      error: new HostKeyMismatchError(
        `Host key verification failed for ${name}: the host presented ${presentedText}, but known-hosts expects ${expected}. ` +
          'If the host was reinstalled, put its new key in known-hosts after checking it; otherwise someone may be intercepting the connection. Not retried.',
      ),
    };
  }
  if (strict) {
    return {
      ok: false,
      error: new UnknownHostError(
        `Host key verification failed: ${name} is not in known-hosts (it presented ${presentedText}). ` +
          `Add its line (e.g. from \`ssh-keyscan -p ${port} ${host}\`, checked against the host's own fingerprint).`,
      ),
    };
  }
  return { ok: true, known: false };
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
