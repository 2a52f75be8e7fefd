import { describe, expect, test } from '@jest/globals';
import {
  cyclonedxDocument,
  documentBytes,
  nameBasedUuid,
  spdxDocument,
  type SbomSubject,
} from '../../actions/make-chroot/src/sbom.js';
import { packageUrl } from '../../actions/core/src/purl.js';
import {
  KNOWN_SPDX_LICENSES,
  packageLicense,
  spdxExpressionOf,
} from '../../actions/make-chroot/src/sbom-licenses.js';
import {
  cyclonedxSchemaErrors,
  spdxLicenseIdsOfCyclonedx,
  spdxSchemaErrors,
} from '../helpers/sbom-schemas.js';

const subject: SbomSubject = {
  arch: 'x86_64',
  created: '2026-01-02T03:04:05Z',
  app: {
    name: 'greeter',
    version: '12.abc123def456-1',
    vcs: 'hg',
    revision: '12',
    hash: 'abc123def456',
    commit: 'abc123def4567890abc123def4567890abc12345',
    commitTime: '2026-01-01T00:00:00Z',
    source: 'https://hg.example.test/greeter',
  },
  packages: [
    { name: 'containers-common', version: '1:0.47.4-4', arch: 'x86_64', licenses: ['Apache-2.0'] },
    {
      name: 'gcc-libs',
      version: '14.1.1+r1-1',
      arch: 'x86_64',
      licenses: ['GPL-3.0-or-later WITH GCC-exception-3.1', 'custom:zlib-variant'],
    },
    {
      name: 'greeter',
      version: '12.abc123def456-1',
      arch: 'x86_64',
      licenses: ['mit'],
      description: 'Says hello',
      url: 'https://greeter.example.test',
    },
    { name: 'libsigc++', version: '2.12.1-2', arch: 'x86_64', licenses: ['LGPL2.1'] },
    { name: 'nolicense', version: '1.0-1', arch: 'any', licenses: [] },
    { name: 'rust-libs', version: '1.0-1', arch: 'x86_64', licenses: ['MIT OR Apache-2.0'] },
  ],
};

describe('license entries as SPDX expressions', () => {
  test('listed identifiers and expressions are kept, in the list’s case', () => {
    expect(spdxExpressionOf('mit')).toBe('MIT');
    expect(spdxExpressionOf('GPL-2.0-or-later OR MIT')).toBe('GPL-2.0-or-later OR MIT');
    expect(spdxExpressionOf('(MIT AND Zlib) OR Apache-2.0')).toBe('(MIT AND Zlib) OR Apache-2.0');
    expect(spdxExpressionOf('GPL-3.0-or-later WITH gcc-exception-3.1')).toBe(
      'GPL-3.0-or-later WITH GCC-exception-3.1',
    );
  });

  test('old Arch names, custom licenses and broken expressions are not SPDX', () => {
    for (const entry of ['GPL2', 'custom', 'custom:Foo', 'MIT OR', '(MIT', 'MIT WITH MIT', '']) {
      expect(spdxExpressionOf(entry)).toBeUndefined();
    }
  });

  test('several entries all apply; a LicenseRef stands for each unknown one', () => {
    const license = packageLicense(['MIT OR Apache-2.0', 'custom:Foo Bar', 'GPL2']);
    expect(license.expression).toMatch(
      /^\(MIT OR Apache-2\.0\) AND LicenseRef-custom-Foo-Bar-[0-9a-f]{8} AND LicenseRef-GPL2$/,
    );
    expect(packageLicense([]).expression).toBeUndefined();
  });

  test('every identifier written as SPDX is on the SPDX list CycloneDX ships', () => {
    const published = spdxLicenseIdsOfCyclonedx();
    expect(KNOWN_SPDX_LICENSES.filter((id) => !published.has(id))).toEqual([]);
  });
});

describe('package URLs of the alpm type', () => {
  test('namespace by distribution, epoch colon kept, other characters percent-encoded', () => {
    expect(packageUrl('x86_64', subject.packages[0]!)).toBe(
      'pkg:alpm/arch/containers-common@1:0.47.4-4?arch=x86_64',
    );
    expect(packageUrl('x86_64', subject.packages[3]!)).toBe(
      'pkg:alpm/arch/libsigc%2B%2B@2.12.1-2?arch=x86_64',
    );
    expect(packageUrl('i686', { name: 'bash', version: '5.2-1', arch: 'i686' })).toBe(
      'pkg:alpm/arch32/bash@5.2-1?arch=i686',
    );
  });
});

describe('the SPDX 2.3 document', () => {
  const document = spdxDocument(subject);

  test('is valid under the published SPDX 2.3 JSON schema', () => {
    expect(spdxSchemaErrors(document)).toEqual([]);
  });

  test('each package once with its version and purl, besides the root element', () => {
    const packages = document.packages as Array<Record<string, unknown>>;
    expect(packages[0]!.SPDXID).toBe('SPDXRef-Root');
    const rest = packages.slice(1);
    expect(rest.map((p) => [p.name, p.versionInfo])).toEqual(
      subject.packages.map((p) => [p.name, p.version]),
    );
    const purls = rest.map(
      (p) => (p.externalRefs as Array<{ referenceLocator: string }>)[0]!.referenceLocator,
    );
    expect(purls).toContain('pkg:alpm/arch/containers-common@1:0.47.4-4?arch=x86_64');
    expect(new Set(rest.map((p) => p.SPDXID)).size).toBe(rest.length);
  });

  test('every LicenseRef used is declared, with the text the package gave', () => {
    const declared = (document.hasExtractedLicensingInfos as Array<Record<string, string>>).map(
      (info) => [info.licenseId, info.name],
    );
    const used = (document.packages as Array<{ licenseDeclared?: string }>)
      .flatMap((p) => p.licenseDeclared?.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? [])
      .sort();
    expect(declared.map(([id]) => id).sort()).toEqual([...new Set(used)]);
    expect(declared.map(([, name]) => name).sort()).toEqual(['LGPL2.1', 'custom:zlib-variant']);
  });

  test('the app carries its VCS revision, hash and commit', () => {
    const app = (document.packages as Array<Record<string, string>>).find(
      (p) => p.name === 'greeter',
    )!;
    expect(app.downloadLocation).toBe(
      'hg+https://hg.example.test/greeter@abc123def4567890abc123def4567890abc12345',
    );
    expect(app.sourceInfo).toContain('revision 12, hash abc123def456');
    expect(app.licenseDeclared).toBe('MIT');
  });

  test('creation time as given; namespace derived from the content', () => {
    expect((document.creationInfo as { created: string }).created).toBe(subject.created);
    expect(documentBytes(spdxDocument(subject))).toEqual(documentBytes(document));
    const other = spdxDocument({ ...subject, created: '2026-01-02T03:04:06Z' });
    expect(other.documentNamespace).not.toBe(document.documentNamespace);
  });
});

describe('the CycloneDX 1.6 document', () => {
  const document = cyclonedxDocument(subject);

  test('is valid under the CycloneDX 1.6 schema', () => {
    expect(cyclonedxSchemaErrors(document)).toEqual([]);
  });

  test('each package once with its version; the root is the metadata component', () => {
    const components = document.components as Array<Record<string, unknown>>;
    expect(components.map((c) => [c.name, c.version])).toEqual(
      subject.packages.map((p) => [p.name, p.version]),
    );
    expect((document.metadata as { component: { name: string } }).component.name).toBe(
      'arch-core-root',
    );
  });

  test('licenses: an id, an expression, or names where SPDX has none', () => {
    const byName = new Map(
      (document.components as Array<Record<string, unknown>>).map((c) => [c.name, c.licenses]),
    );
    expect(byName.get('greeter')).toEqual([{ license: { id: 'MIT' } }]);
    expect(byName.get('rust-libs')).toEqual([{ expression: 'MIT OR Apache-2.0' }]);
    expect(byName.get('libsigc++')).toEqual([{ license: { name: 'LGPL2.1' } }]);
    expect(byName.get('nolicense')).toBeUndefined();
  });

  test('the app’s commit is its pedigree', () => {
    const app = (document.components as Array<Record<string, unknown>>).find(
      (c) => c.name === 'greeter',
    )!;
    expect(app.pedigree).toEqual({
      commits: [
        {
          uid: subject.app!.commit,
          url: subject.app!.source,
          committer: { timestamp: subject.app!.commitTime },
        },
      ],
    });
    expect(app.properties).toContainEqual({ name: 'arch-core:vcs-revision', value: '12' });
  });

  test('a schema-valid name-based serial number, the same for the same root', () => {
    expect(document.serialNumber).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(cyclonedxDocument(subject).serialNumber).toBe(document.serialNumber);
    expect(nameBasedUuid('a')).not.toBe(nameBasedUuid('b'));
  });
});

describe('the independent readers refuse what is wrong', () => {
  test('a document without its required fields fails each schema', () => {
    expect(spdxSchemaErrors({ ...spdxDocument(subject), creationInfo: undefined })).not.toEqual([]);
    expect(cyclonedxSchemaErrors({ ...cyclonedxDocument(subject), specVersion: 2 })).not.toEqual(
      [],
    );
  });
});
