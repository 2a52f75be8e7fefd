import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseImageReference } from '../../actions/core/src/image-ref.js';
import {
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  keyFingerprint,
  payloadClaims,
  signatureTag,
  simpleSigningPayload,
} from '../../actions/core/src/simple-signing.js';
import { planUnit } from '../../actions/deploy-fleet/src/inputs.js';
import {
  parseVerifyKey,
  refusalReason,
  type FetchedSignature,
} from '../../actions/deploy-fleet/src/signature.js';
import { DEFAULT_UNIT_TEMPLATE } from '../../actions/deploy-fleet/src/unit.js';

// The verify-key check on signatures made by openssl (not by import-image's signing code), and
// the payload format both halves share.

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-fleet-signature-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface OpensslKey {
  keyFile: string;
  pub: string;
}

function opensslKey(name: string): OpensslKey {
  const keyFile = path.join(work, `${name}.pem`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  const pub = execFileSync('openssl', ['ec', '-in', keyFile, '-pubout'], {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return { keyFile, pub };
}

/** openssl's ECDSA-SHA256 signature of `payload`, base64 DER as the annotation holds it. */
function opensslSign(key: OpensslKey, payload: Buffer): string {
  return execFileSync('openssl', ['dgst', '-sha256', '-sign', key.keyFile], {
    input: payload,
  }).toString('base64');
}

function signed(key: OpensslKey, payload: Buffer, signature = opensslSign(key, payload)) {
  return {
    layer: {
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: `sha256:${createHash('sha256').update(payload).digest('hex')}`,
      annotations: { [SIGNATURE_ANNOTATION]: signature },
    },
    payload,
  } satisfies FetchedSignature;
}

const signer = opensslKey('signer');
const other = opensslKey('other');
const key = parseVerifyKey(signer.pub);
const image = parseImageReference('10.0.0.1:5000/team/hello:1.0');
const digest = `sha256:${'a'.repeat(64)}`;
const otherDigest = `sha256:${'b'.repeat(64)}`;
const payloadOf = (reference: string, of: string) => simpleSigningPayload(reference, of);
const good = payloadOf('10.0.0.1:5000/team/hello', digest);

test('the payload and the tag are the bytes cosign and containers/image read', () => {
  expect(good.toString()).toBe(
    `{"critical":{"identity":{"docker-reference":"10.0.0.1:5000/team/hello"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
  );
  expect(signatureTag(digest)).toBe(`sha256-${'a'.repeat(64)}.sig`);
  expect(payloadClaims(good)).toEqual({
    dockerReference: '10.0.0.1:5000/team/hello',
    manifestDigest: digest,
  });
  expect(payloadClaims(Buffer.from('{"critical":{}}'))).toBeUndefined();
  expect(payloadClaims(Buffer.from('not json'))).toBeUndefined();
});

test("a signature by the key over this digest's payload admits it", () => {
  expect(refusalReason(image, digest, key, [signed(signer, good)])).toBeUndefined();
  // One good signature among others is enough; a tag or digest in the reference is allowed.
  const tagged = payloadOf('10.0.0.1:5000/team/hello:1.0', digest);
  expect(
    refusalReason(image, digest, key, [signed(other, good), signed(signer, tagged)]),
  ).toBeUndefined();
});

test.each<[string, () => FetchedSignature[], RegExp]>([
  [
    'no signature layer',
    () => [],
    /^no signature \(sha256-a+\.sig holds no simple-signing layer\)$/,
  ],
  [
    'another key',
    () => [signed(other, good)],
    /^not signed by this key \(1 signature\(s\), none verifies with it\)$/,
  ],
  [
    'a signature of another digest',
    () => [signed(signer, payloadOf('10.0.0.1:5000/team/hello', otherDigest))],
    new RegExp(`^signed for another digest \\(${otherDigest}\\)$`),
  ],
  [
    'a signature of another repository',
    () => [signed(signer, payloadOf('10.0.0.1:5000/team/other', digest))],
    /^signed for another image \(10\.0\.0\.1:5000\/team\/other\)$/,
  ],
  [
    'a payload changed after signing (claims changed)',
    () => {
      const changed = payloadOf('10.0.0.1:5000/team/hello', otherDigest);
      return [signed(signer, changed, opensslSign(signer, good))];
    },
    /^payload not the signed one: it was changed after signing$/,
  ],
  [
    'a payload changed after signing (claims kept)',
    () => {
      const changed = Buffer.from(good.toString().replace('"optional":null', '"optional":{}'));
      return [signed(signer, changed, opensslSign(signer, good))];
    },
    /^payload not the signed one: it was changed after signing$/,
  ],
  [
    'a blob that is not the layer it should be',
    () => {
      const layer = signed(signer, good);
      return [{ ...layer, payload: Buffer.concat([good, Buffer.from(' ')]) }];
    },
    /^the payload blob is not sha256:/,
  ],
  [
    'a missing payload blob',
    () => [{ ...signed(signer, good), payload: undefined }],
    /^no signature: its payload blob sha256:[0-9a-f]{64} is missing$/,
  ],
  [
    'a garbled signature',
    () => [signed(signer, good, 'bm90IGEgc2lnbmF0dXJl')],
    /^not signed by this key/,
  ],
])('%s is refused, saying so', (_name, signatures, why) => {
  expect(refusalReason(image, digest, key, signatures())).toMatch(why);
});

test('the most telling reason wins when several signatures fail', () => {
  const forOther = signed(signer, payloadOf('10.0.0.1:5000/team/hello', otherDigest));
  expect(refusalReason(image, digest, key, [signed(other, good), forOther])).toMatch(
    /^signed for another digest/,
  );
});

test('verify-key takes a P-256 public key only, and its fingerprint is the DER key hash', () => {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: signer.pub });
  expect(keyFingerprint(key)).toBe(`sha256:${createHash('sha256').update(der).digest('hex')}`);
  expect(() => parseVerifyKey(fs.readFileSync(signer.keyFile, 'utf8'))).toThrow(
    /^Input "verify-key": is a private key/,
  );
  expect(() =>
    parseVerifyKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'),
  ).toThrow(/^Input "verify-key": is not a PEM public key/);
});

test('with a checked digest the unit runs repository@digest, its version still the tag', () => {
  const inputs = { image, unitName: 'hello.service', machineMetadata: [] };
  const unit = planUnit(undefined, DEFAULT_UNIT_TEMPLATE, inputs, digest);
  expect(unit.image).toBe(`10.0.0.1:5000/team/hello@${digest}`);
  expect(unit.digest).toBe(digest);
  expect(unit.version).toBe('1.0');
  expect(unit.text).not.toContain('team/hello:1.0');
  expect(unit.hash).not.toBe(planUnit(undefined, DEFAULT_UNIT_TEMPLATE, inputs).hash);
});
