import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, UserError } from '../../core/src/errors.js';
import { SBOM_CYCLONEDX_PATH_IN_ROOT, SBOM_SPDX_PATH_IN_ROOT } from '../../core/src/manifest.js';
import type { Inputs } from './inputs.js';
import { readFileFromTarball } from './oci.js';
import type { Artifact } from './referrers.js';

/**
 * make-chroot's SBOMs as artifacts for the image: from the sbom-spdx / sbom-cyclonedx inputs,
 * else from the root or the tarball, where make-chroot puts them beside the manifest.
 */

interface SbomKind {
  input: 'sbom-spdx' | 'sbom-cyclonedx';
  inRoot: string;
  artifactType: string;
  /** What the document must say it is, so a wrong file is refused before anything is pushed. */
  check: (document: Record<string, unknown>) => boolean;
}

export const SBOM_KINDS: readonly SbomKind[] = [
  {
    input: 'sbom-spdx',
    inRoot: SBOM_SPDX_PATH_IN_ROOT,
    artifactType: 'application/spdx+json',
    check: (document) => typeof document.spdxVersion === 'string',
  },
  {
    input: 'sbom-cyclonedx',
    inRoot: SBOM_CYCLONEDX_PATH_IN_ROOT,
    artifactType: 'application/vnd.cyclonedx+json',
    check: (document) => document.bomFormat === 'CycloneDX',
  },
];

async function readSbom(
  inputs: Inputs,
  kind: SbomKind,
): Promise<{ bytes: Buffer; from: string } | undefined> {
  const given = inputs[kind.input];
  if (given !== undefined) return { bytes: await fs.readFile(given), from: given };
  if (inputs.root !== undefined) {
    const file = path.join(inputs.root, kind.inRoot);
    const bytes = await fs.readFile(file).catch(() => undefined);
    return bytes && { bytes, from: file };
  }
  const tarball = inputs.tarball as string;
  const bytes = await readFileFromTarball(tarball, kind.inRoot);
  return bytes && { bytes, from: `${tarball}:${kind.inRoot}` };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The SBOMs found, each checked to be the document its kind says, as artifacts. */
export async function findSbomArtifacts(inputs: Inputs, created: string): Promise<Artifact[]> {
  const artifacts: Artifact[] = [];
  for (const kind of SBOM_KINDS) {
    const found = await readSbom(inputs, kind);
    if (!found) continue;
    let document: unknown;
    try {
      document = JSON.parse(found.bytes.toString('utf8'));
    } catch {
      document = undefined;
    }
    if (!isObject(document) || !kind.check(document)) {
      const what = kind.input === 'sbom-spdx' ? 'an SPDX' : 'a CycloneDX';
      const message = `${found.from} is not ${what} JSON document.`;
      throw inputs[kind.input] === undefined
        ? new UserError(`${kind.input}: ${message}`)
        : new InputError(kind.input, message);
    }
    artifacts.push({
      artifactType: kind.artifactType,
      mediaType: kind.artifactType,
      bytes: found.bytes,
      annotations: {
        'org.opencontainers.image.created': created,
        'org.opencontainers.image.title': path.posix.basename(kind.inRoot),
      },
    });
  }
  return artifacts;
}
