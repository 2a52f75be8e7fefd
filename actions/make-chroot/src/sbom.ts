import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  SBOM_CYCLONEDX_PATH_IN_ROOT,
  SBOM_SPDX_PATH_IN_ROOT,
  type AppInfo,
} from '../../core/src/manifest.js';
import { packageUrl } from '../../core/src/purl.js';
import { parseDesc } from './pacman.js';
import { packageLicense, spdxIdString, type LicenseRef } from './sbom-licenses.js';

/**
 * The root's bills of materials: an SPDX 2.3 and a CycloneDX 1.6 JSON document, both made from
 * the root's pacman database (docs/dev/sbom.md). Same root, same bytes: the packages in name
 * order, the time from SOURCE_DATE_EPOCH, and the document's namespace and serial number a UUID
 * derived from what the document says, never a random one.
 */

/** One package of the local database, as its `desc` file records it. */
export interface SbomPackage {
  name: string;
  version: string;
  arch: string;
  licenses: string[];
  description?: string;
  url?: string;
}

export interface SbomSubject {
  /** The root's architecture (i686, x86_64). */
  arch: string;
  app?: AppInfo;
  /** ISO 8601 UTC, seconds. */
  created: string;
  /** Sorted by name. */
  packages: SbomPackage[];
}

/** Every package of the local database under `dbPath` (`ROOT/var/lib/pacman`), by name. */
export async function readLocalPackages(dbPath: string): Promise<SbomPackage[]> {
  const local = path.join(dbPath, 'local');
  const packages: SbomPackage[] = [];
  const entries = await fs.readdir(local, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const desc = parseDesc(await fs.readFile(path.join(local, entry.name, 'desc'), 'utf8'));
    const name = desc.NAME?.[0];
    const version = desc.VERSION?.[0];
    if (name === undefined || version === undefined) continue;
    packages.push({
      name,
      version,
      arch: desc.ARCH?.[0] ?? 'any',
      licenses: desc.LICENSE ?? [],
      description: desc.DESC?.[0],
      url: desc.URL?.[0],
    });
  }
  return packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A fixed namespace for the name-based UUIDs of these documents (RFC 9562 version 5). */
const UUID_NAMESPACE = Buffer.from('5c0e43a1b7e44d0a9a3f6f1e8d2c7b90', 'hex');

/** The version-5 UUID of `name` in this module's namespace (pure). */
export function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(UUID_NAMESPACE).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The document's identity: a UUID of everything it describes, per format (pure). */
function subjectUuid(format: string, subject: SbomSubject): string {
  return nameBasedUuid(`${format}\n${JSON.stringify(subject)}`);
}

const ROOT_NAME = 'arch-core-root';
const TOOL = 'arch-core-make-chroot';

function rootVersion(subject: SbomSubject): string | undefined {
  return subject.app?.version;
}

/** What the app record says of the app's source, as one line. */
export function appSourceLine(app: AppInfo): string {
  if (app.vcs === 'none') return `${app.name} ${app.version}, built without version control`;
  const parts = [
    app.revision === undefined ? undefined : `revision ${app.revision}`,
    app.hash === undefined ? undefined : `hash ${app.hash}`,
    app.commit === undefined ? undefined : `commit ${app.commit}`,
    app.commitTime === undefined ? undefined : `committed ${app.commitTime}`,
    app.source === undefined ? undefined : `from ${app.source}`,
  ].filter((part) => part !== undefined);
  return `${app.name} ${app.version}, built from ${app.vcs} ${parts.join(', ')}`;
}

/** SPDX's VCS download location (`hg+https://host/repo@commit`), when the record knows it. */
function vcsDownloadLocation(app: AppInfo): string | undefined {
  if (app.vcs === 'none' || app.source === undefined || !/^[a-z+]+:\/\//.test(app.source)) {
    return undefined;
  }
  const revision = app.commit ?? app.hash;
  return `${app.vcs}+${app.source}${revision === undefined ? '' : `@${revision}`}`;
}

function spdxPackageId(name: string): string {
  return `SPDXRef-Package-${spdxIdString(name)}`;
}

/** The SPDX 2.3 document of the root (pure). */
export function spdxDocument(subject: SbomSubject): Record<string, unknown> {
  const refs = new Map<string, LicenseRef>();
  const packages = subject.packages.map((entry) => {
    const license = packageLicense(entry.licenses);
    for (const item of license.entries) if (item.ref) refs.set(item.ref.id, item.ref);
    const isApp = entry.name === subject.app?.name;
    const spdx: Record<string, unknown> = {
      SPDXID: spdxPackageId(entry.name),
      name: entry.name,
      versionInfo: entry.version,
      downloadLocation: (isApp && vcsDownloadLocation(subject.app!)) || 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: license.expression ?? 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: packageUrl(subject.arch, entry),
        },
      ],
    };
    if (entry.url !== undefined) spdx.homepage = entry.url;
    if (entry.description !== undefined) spdx.summary = entry.description;
    if (isApp) {
      spdx.primaryPackagePurpose = 'APPLICATION';
      spdx.sourceInfo = appSourceLine(subject.app!);
    }
    return spdx;
  });
  const root: Record<string, unknown> = {
    SPDXID: 'SPDXRef-Root',
    name: ROOT_NAME,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    comment: `The ${subject.arch} root make-chroot installed: every package of its pacman database.`,
  };
  const version = rootVersion(subject);
  if (version !== undefined) root.versionInfo = version;
  const document: Record<string, unknown> = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: subject.app ? `${subject.app.name}-${subject.app.version}-${subject.arch}` : ROOT_NAME,
    documentNamespace: `urn:uuid:${subjectUuid('spdx', subject)}`,
    creationInfo: { created: subject.created, creators: [`Tool: ${TOOL}`] },
    documentDescribes: ['SPDXRef-Root'],
    packages: [root, ...packages],
    relationships: [
      {
        spdxElementId: 'SPDXRef-DOCUMENT',
        relationshipType: 'DESCRIBES',
        relatedSpdxElement: 'SPDXRef-Root',
      },
      ...packages.map((entry) => ({
        spdxElementId: 'SPDXRef-Root',
        relationshipType: 'CONTAINS',
        relatedSpdxElement: entry.SPDXID,
      })),
    ],
  };
  if (refs.size > 0) {
    document.hasExtractedLicensingInfos = [...refs.values()]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((ref) => ({
        licenseId: ref.id,
        name: ref.name,
        extractedText: `The package metadata names this license "${ref.name}"; its text is among the package's files (usually under /usr/share/licenses).`,
      }));
  }
  return document;
}

/** CycloneDX `licenses` of one package: SPDX ids or one expression, else the names (pure). */
function cyclonedxLicenses(entries: readonly string[]): unknown[] {
  const license = packageLicense(entries);
  if (license.expression === undefined) return [];
  const allSpdx = license.entries.every((entry) => entry.spdx !== undefined);
  const simpleId = (text: string | undefined): boolean => /^[A-Za-z0-9.-]+$/.test(text ?? '');
  if (allSpdx && !license.entries.every((entry) => simpleId(entry.spdx))) {
    return [{ expression: license.expression }];
  }
  return license.entries.map((entry) => ({
    license: simpleId(entry.spdx) ? { id: entry.spdx } : { name: entry.text },
  }));
}

function appPedigree(app: AppInfo): Record<string, unknown> | undefined {
  const uid = app.commit ?? app.hash;
  if (app.vcs === 'none' || uid === undefined) return undefined;
  const commit: Record<string, unknown> = { uid };
  if (app.source !== undefined) commit.url = app.source;
  if (app.commitTime !== undefined) commit.committer = { timestamp: app.commitTime };
  return { commits: [commit] };
}

function appProperties(app: AppInfo): Array<{ name: string; value: string }> {
  const values: Array<[string, string | undefined]> = [
    ['vcs', app.vcs],
    ['vcs-revision', app.revision],
    ['vcs-hash', app.hash],
    ['vcs-commit', app.commit],
  ];
  return values
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([name, value]) => ({ name: `arch-core:${name}`, value }));
}

/** The CycloneDX 1.6 document of the root (pure). */
export function cyclonedxDocument(subject: SbomSubject): Record<string, unknown> {
  const components = subject.packages.map((entry) => {
    const purl = packageUrl(subject.arch, entry);
    const isApp = entry.name === subject.app?.name;
    const component: Record<string, unknown> = {
      type: isApp ? 'application' : 'library',
      'bom-ref': purl,
      name: entry.name,
      version: entry.version,
      purl,
    };
    if (entry.description !== undefined) component.description = entry.description;
    const licenses = cyclonedxLicenses(entry.licenses);
    if (licenses.length > 0) component.licenses = licenses;
    if (entry.url !== undefined)
      component.externalReferences = [{ type: 'website', url: entry.url }];
    if (isApp) {
      const pedigree = appPedigree(subject.app!);
      if (pedigree) component.pedigree = pedigree;
      component.properties = appProperties(subject.app!);
    }
    return component;
  });
  const root: Record<string, unknown> = { type: 'container', 'bom-ref': 'root', name: ROOT_NAME };
  const version = rootVersion(subject);
  if (version !== undefined) root.version = version;
  root.properties = [{ name: 'arch-core:arch', value: subject.arch }];
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${subjectUuid('cyclonedx', subject)}`,
    version: 1,
    metadata: {
      timestamp: subject.created,
      tools: { components: [{ type: 'application', name: TOOL }] },
      component: root,
    },
    components,
    dependencies: [{ ref: 'root', dependsOn: components.map((entry) => entry['bom-ref']) }],
  };
}

/** A document's bytes: two-space JSON and a newline. */
export function documentBytes(document: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}

/** Writes both documents into the root (before it is published, so atomically with it). */
export async function writeSboms(rootDir: string, subject: SbomSubject): Promise<void> {
  const documents: Array<[string, Record<string, unknown>]> = [
    [SBOM_SPDX_PATH_IN_ROOT, spdxDocument(subject)],
    [SBOM_CYCLONEDX_PATH_IN_ROOT, cyclonedxDocument(subject)],
  ];
  for (const [inRoot, document] of documents) {
    const file = path.join(rootDir, inRoot);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, documentBytes(document), { mode: 0o644 });
  }
}
