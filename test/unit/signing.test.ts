import { describe, expect, test } from '@jest/globals';
import {
  checkArmoredPrivateKey,
  checkArmoredPublicKeys,
  parseColonKeys,
} from '../../actions/core/src/gpg.js';
import {
  describeSignatureProblems,
  requireSignatures,
} from '../../actions/make-chroot/src/keyring.js';

const PUBLIC =
  '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n';
const PRIVATE =
  '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ\n-----END PGP PRIVATE KEY BLOCK-----\n';

describe('armored key inputs', () => {
  test('public key blocks only, never a private one', () => {
    expect(() => checkArmoredPublicKeys('keyring', `${PUBLIC}${PUBLIC}`)).not.toThrow();
    expect(() => checkArmoredPublicKeys('keyring', PRIVATE)).toThrow(/keyring.*private key/);
    expect(() => checkArmoredPublicKeys('keyring', `${PUBLIC}junk`)).toThrow(
      /keyring.*nothing else/,
    );
  });

  test('exactly one private key block', () => {
    expect(() => checkArmoredPrivateKey('gpg-key', PRIVATE)).not.toThrow();
    expect(() => checkArmoredPrivateKey('gpg-key', PUBLIC)).toThrow(/gpg-key.*one armored private/);
    expect(() => checkArmoredPrivateKey('gpg-key', `${PRIVATE}${PRIVATE}`)).toThrow(/gpg-key/);
  });
});

test("gpg's colon listing gives each primary key's fingerprint and first user id, not subkeys'", () => {
  const listing = [
    'sec:u:255:22:F758F1AA9537E3DD:1764777077:::u:::scESC:::+:::ed25519:::0:',
    'fpr:::::::::01AD387CEDC37E79FBB1BD38F758F1AA9537E3DD:',
    'grp:::::::::5B4C0F2B3A0D9E1F7C6B5A4938271605F4E3D2C1:',
    'uid:u::::1764777077::ABC::Test Signer \\x3ct@example.org\\x3e::::::::::0:',
    'uid:u::::1764777077::DEF::Second <s@example.org>::::::::::0:',
    'ssb:u:255:18:AAAABBBBCCCCDDDD:1764777077::::::e:::+:::cv25519::',
    'fpr:::::::::1111222233334444555566667777AAAABBBBCCCCDDDD:',
    'pub:-:3072:1:0123456789ABCDEF:1764777077:::-:::scESC::::::23::0:',
    'fpr:::::::::FEDCBA98765432100123456789ABCDEF01234567:',
  ].join('\n');
  expect(parseColonKeys(listing)).toEqual([
    {
      fingerprint: '01AD387CEDC37E79FBB1BD38F758F1AA9537E3DD',
      userId: 'Test Signer <t@example.org>',
    },
    { fingerprint: 'FEDCBA98765432100123456789ABCDEF01234567', userId: '' },
  ]);
});

describe("pacman's signature refusals in one line", () => {
  test('a changed package, an unsigned one, and an unknown key are each named', () => {
    expect(
      describeSignatureProblems(
        'error: hello: signature from "Signer <s@example.org>" is invalid\n' +
          ':: File /c/hello.pkg.tar.xz is corrupted (invalid or corrupted package (PGP signature)).\n',
      ),
    ).toBe(
      'hello: its signature (by Signer <s@example.org>) does not match it: changed after signing',
    );
    expect(
      describeSignatureProblems(
        "error: failed retrieving file 'hello-1-1-x86_64.pkg.tar.xz.sig' from disk : Couldn't open file\n",
      ),
    ).toBe(
      'hello-1-1-x86_64.pkg.tar.xz is not signed (no hello-1-1-x86_64.pkg.tar.xz.sig, none in its database)',
    );
    expect(
      describeSignatureProblems(
        'Packages (2) glibc-2.36-1  hello-1.2-1\n' +
          ':: Import PGP key ED6702397E8E39E5, "Unknown Packager"? [Y/n] error: key "ED6702397E8E39E5" could not be looked up remotely\n',
      ),
    ).toBe(
      'one of the packages is signed by the key ED6702397E8E39E5, which is not in keyring (installing glibc-2.36-1, hello-1.2-1)',
    );
  });

  test('a database whose signature fails is named; other failures are not signature problems', () => {
    expect(
      describeSignatureProblems(
        "error: database 'app' is not valid (invalid or corrupted database (PGP signature))\n",
      ),
    ).toMatch(/database of app/);
    expect(describeSignatureProblems('error: target not found: nope\n')).toBeUndefined();
  });
});

test('with a keyring every repository requires signatures, the own one only of its packages', () => {
  const repos = [
    { name: 'arch-core-input', servers: ['file:///w/input-repo'], sigLevel: 'Never' },
    { name: 'app', servers: ['file:///srv/app'], sigLevel: 'Never' },
    { name: 'core', servers: ['https://mirror.invalid/core'], sigLevel: 'Optional' },
  ];
  expect(requireSignatures(repos, 'arch-core-input').map((repo) => repo.sigLevel)).toEqual([
    'Required DatabaseOptional',
    'Required',
    'Required',
  ]);
});
