import { createHmac, randomBytes } from 'node:crypto';
import { fingerprintOf } from '../../actions/core/src/ssh-key-blobs.js';
import {
  HostKeyMismatchError,
  UnknownHostError,
  hostFieldMatches,
  knownHostsName,
  parseKnownHosts,
  verifyHostKey,
} from '../../actions/core/src/ssh-known-hosts.js';

// Two ed25519-shaped public key blobs (the "ssh-ed25519" prefix and 32 made-up key bytes).
const KEY_A = 'AAAAC3NzaC1lZDI1NTE5AAAAIJ4y5I0xp1sJrYd3bS0ZxXZ3n5sYgS1b0Zq3Qk0n6c7P';
const KEY_B = 'AAAAC3NzaC1lZDI1NTE5AAAAIO8mQxkP9m2xq8P6t6ZcS1uQ9Yl3uGJ1q3b2mM3p0x8W';
const blob = (key: string) => Buffer.from(key, 'base64');

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

test('knownHostsName: plain on port 22, [host]:port otherwise', () => {
  expect(knownHostsName('h', 22)).toBe('h');
  expect(knownHostsName('h', 2222)).toBe('[h]:2222');
});

test.each([
  ['master', 'master', true],
  ['MASTER', 'master', true],
  ['a,master,b', 'master', true],
  ['[master]:2222', '[master]:2222', true],
  ['master', '[master]:2222', false],
  ['*.example.org', 'm1.example.org', true],
  ['m?.example.org', 'm12.example.org', false],
  ['*.example.org,!bad.example.org', 'bad.example.org', false],
])('hostFieldMatches(%j, %j) = %s', (field, name, expected) => {
  expect(hostFieldMatches(field, name)).toBe(expected);
});

test('hashed entries match their own name only', () => {
  const field = hashed('[10.0.0.1]:2222');
  expect(hostFieldMatches(field, '[10.0.0.1]:2222')).toBe(true);
  expect(hostFieldMatches(field, '10.0.0.1')).toBe(false);
});

test('parseKnownHosts: comments, markers; a malformed line or a wrong type is refused', () => {
  const entries = parseKnownHosts(
    `# c\n\nmaster ssh-ed25519 ${KEY_A} comment\n@revoked old ssh-ed25519 ${KEY_B}\n`,
  );
  expect(entries.map((e) => [e.marker, e.hosts, e.keyType, e.line])).toEqual([
    [undefined, 'master', 'ssh-ed25519', 3],
    ['@revoked', 'old', 'ssh-ed25519', 4],
  ]);
  expect(() => parseKnownHosts('master ssh-ed25519')).toThrow(
    /known-hosts line 1 is not a known_hosts line/,
  );
  expect(() => parseKnownHosts(`master ssh-rsa ${KEY_A}`)).toThrow(
    /line 1: the key is not of the type "ssh-rsa"/,
  );
  expect(() => parseKnownHosts(`@bogus master ssh-ed25519 ${KEY_A}`)).toThrow(
    /unknown marker "@bogus"/,
  );
});

test('fingerprintOf is OpenSSH SHA256 without padding', () => {
  expect(fingerprintOf(blob(KEY_A))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
});

test('verifyHostKey: match, mismatch with both fingerprints, unknown, revoked, not strict', () => {
  const known = parseKnownHosts(
    `[m]:2222 ssh-ed25519 ${KEY_A}\n${hashed('n')} ssh-ed25519 ${KEY_A}\n@revoked r ssh-ed25519 ${KEY_B}\nr ssh-ed25519 ${KEY_B}`,
  );
  expect(verifyHostKey(known, 'm', 2222, blob(KEY_A), true)).toEqual({ ok: true, known: true });
  expect(verifyHostKey(known, 'n', 22, blob(KEY_A), true)).toEqual({ ok: true, known: true });
  const mismatch = verifyHostKey(known, 'm', 2222, blob(KEY_B), true);
  expect(mismatch.ok).toBe(false);
  if (!mismatch.ok) {
    expect(mismatch.error).toBeInstanceOf(HostKeyMismatchError);
    expect(mismatch.error.message).toContain(fingerprintOf(blob(KEY_A)));
    expect(mismatch.error.message).toContain(fingerprintOf(blob(KEY_B)));
  }
  // A mismatch is refused even when strict checking is off.
  expect(verifyHostKey(known, 'm', 2222, blob(KEY_B), false).ok).toBe(false);
  const unknown = verifyHostKey(known, 'm', 22, blob(KEY_A), true);
  expect(!unknown.ok && unknown.error).toBeInstanceOf(UnknownHostError);
  expect(verifyHostKey(known, 'm', 22, blob(KEY_A), false)).toEqual({ ok: true, known: false });
  const revoked = verifyHostKey(known, 'r', 22, blob(KEY_B), true);
  expect(!revoked.ok && revoked.error.message).toMatch(/marked @revoked/);
});
