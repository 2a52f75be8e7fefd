import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import type { Manifest } from '../../core/src/manifest.js';
import { LOCAL_DB, pacmanSections } from './app-layers.js';
import {
  PLATFORM_OF_ARCH,
  formatPlatform,
  parsePlatform,
  platformForArch,
  type Annotation,
} from './config.js';
import {
  MEDIA_TYPES,
  digestOf,
  fillLayoutBlobs,
  sortedObject,
  writeLayout,
  type Blob,
  type BuiltImage,
  type Platform,
} from './oci.js';

/**
 * The `platforms` input: one root (or tarball) per platform, each made into an image exactly as
 * a single root is, and an OCI image index over them that the tags name. The index lists its
 * children sorted by platform, so the same roots give the same index bytes whatever the order
 * of the lines.
 */

/** One line of `platforms`: the platform and the root directory or tarball made for it. */
export interface PlatformSource {
  platform: Platform;
  /** Absolute; root or tarball, as the path is a directory or a file. */
  root?: string;
  tarball?: string;
}

/** os/architecture[/variant] of every arch import-image knows, e.g. linux/386, linux/amd64. */
export function knownPlatforms(): string[] {
  return [...new Set(Object.values(PLATFORM_OF_ARCH).map(formatPlatform))];
}

/**
 * The lines `PLATFORM=PATH`: known platforms, each once, each path an existing root or tarball;
 * sorted by platform.
 */
export async function parsePlatformLines(lines: string[]): Promise<PlatformSource[]> {
  const known = knownPlatforms();
  const seen = new Set<string>();
  const sources: PlatformSource[] = [];
  for (const line of lines) {
    const equals = line.indexOf('=');
    const text = equals > 0 ? line.slice(0, equals).trim() : '';
    const given = equals > 0 ? line.slice(equals + 1).trim() : '';
    if (!text || !given) {
      throw new InputError(
        'platforms',
        `"${line}" is not PLATFORM=PATH (e.g. linux/386=/srv/root-i686 or linux/amd64=root.tar.zst).`,
      );
    }
    const platform = parsePlatform(text, 'platforms');
    const name = formatPlatform(platform);
    if (!known.includes(name)) {
      throw new InputError('platforms', `"${name}" is not a known platform (${known.join(', ')}).`);
    }
    if (seen.has(name)) throw new InputError('platforms', `${name} is given twice; give it once.`);
    seen.add(name);
    const resolved = path.resolve(given);
    const stat = await fs.stat(resolved).catch(() => undefined);
    if (!stat || !(stat.isDirectory() || stat.isFile())) {
      throw new InputError(
        'platforms',
        `${name}: ${given} is not an existing root directory or tarball.`,
      );
    }
    sources.push(
      stat.isDirectory() ? { platform, root: resolved } : { platform, tarball: resolved },
    );
  }
  if (sources.length < 2) {
    throw new InputError(
      'platforms',
      'names one platform; give two or more lines, or use root (or tarball) and platform.',
    );
  }
  // In platform order, as the index lists them: the order of the lines changes nothing.
  return sources.sort((a, b) => (formatPlatform(a.platform) < formatPlatform(b.platform) ? -1 : 1));
}

/** The arches of the packages in a root's pacman database, `any` left out; none without one. */
async function pacmanArches(root: string): Promise<string[]> {
  const local = path.join(root, LOCAL_DB);
  const entries = await fs.readdir(local, { withFileTypes: true }).catch(() => []);
  const arches = new Set<string>();
  for (const entry of entries.filter((found) => found.isDirectory())) {
    const desc = await fs.readFile(path.join(local, entry.name, 'desc'), 'utf8').catch(() => '');
    const arch = pacmanSections(desc).get('ARCH')?.[0];
    if (arch && arch !== 'any') arches.add(arch);
  }
  return [...arches];
}

/**
 * Refuses a root whose manifest (else pacman's database) says it is for another platform than
 * its line, e.g. an i686 root given as linux/amd64: the image would not run where it is pulled.
 * Returns what the platform was checked against, for the log.
 */
export async function checkSourceArch(
  source: PlatformSource,
  manifest: Manifest | undefined,
): Promise<string> {
  const arches = manifest ? [manifest.arch] : source.root ? await pacmanArches(source.root) : [];
  const given = formatPlatform(source.platform);
  const where = source.root ?? source.tarball;
  if (arches.length === 0) return `${where}: no manifest or pacman database; taken as ${given}`;
  for (const arch of arches) {
    const platform = platformForArch(arch);
    if (!platform) {
      throw new InputError('platforms', `${where} is ${arch}, an arch of no known platform.`);
    }
    const actual = formatPlatform(platform);
    if (actual !== given) {
      throw new InputError(
        'platforms',
        `${where} is ${arch} (${actual}), not ${given}; give it as ${actual}=.`,
      );
    }
  }
  const from = manifest ? 'its manifest' : 'its pacman database';
  return `${given}: ${where} is ${arches.join(', ')} (${from})`;
}

/**
 * The index's own annotations: the `index` level lines for no one platform. What no image and
 * not the index takes is in `ignored` (a line for a platform no line of platforms names).
 */
export function indexAnnotations(
  annotations: readonly Annotation[],
  platforms: readonly Platform[],
): { index: Record<string, string>; ignored: string[] } {
  const names = platforms.map(formatPlatform);
  const index: Record<string, string> = {};
  const ignored: string[] = [];
  for (const annotation of annotations) {
    if (annotation.platform && !names.includes(annotation.platform)) {
      ignored.push(`${annotation.key}: for ${annotation.platform}, which platforms does not name`);
    } else if (annotation.levels.includes('index')) {
      if (annotation.platform) {
        ignored.push(
          `${annotation.key}: index level for ${annotation.platform} only, and the index is of every platform`,
        );
      } else {
        index[annotation.key] = annotation.value;
      }
    }
  }
  return { index, ignored };
}

/** The index's bytes: one entry per image, with its platform, sorted by platform. */
export function imageIndexJson(
  images: readonly BuiltImage[],
  annotations: Record<string, string> = {},
): Buffer {
  const sorted = [...images].sort((a, b) =>
    formatPlatform(a.platform) < formatPlatform(b.platform) ? -1 : 1,
  );
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: sorted.map((image) => ({
      mediaType: image.manifest.mediaType,
      digest: image.manifest.digest,
      size: image.manifest.size,
      platform: {
        architecture: image.platform.architecture,
        os: image.platform.os,
        ...(image.platform.variant ? { variant: image.platform.variant } : {}),
      },
    })),
    ...(Object.keys(annotations).length ? { annotations: sortedObject(annotations) } : {}),
  };
  return Buffer.from(JSON.stringify(index));
}

export function imageIndex(
  images: readonly BuiltImage[],
  annotations: Record<string, string> = {},
): Blob & { bytes: Buffer } {
  const bytes = imageIndexJson(images, annotations);
  return { mediaType: MEDIA_TYPES.index, digest: digestOf(bytes), size: bytes.length, bytes };
}

/**
 * The tags of the index: every root's manifest must give the same ones (the app version), else
 * the tags input has to say them.
 */
export function agreedTags(
  tagsOfEach: ReadonlyArray<{ platform: Platform; tags: string[] }>,
): string[] {
  const [first, ...rest] = tagsOfEach;
  const differing = rest.find((each) => each.tags.join('\n') !== first?.tags.join('\n'));
  if (first && differing) {
    throw new InputError(
      'tags',
      `the roots' manifests give different default tags (${formatPlatform(first.platform)}: ${first.tags.join(', ')}; ${formatPlatform(differing.platform)}: ${differing.tags.join(', ')}); set tags.`,
    );
  }
  return first?.tags ?? [];
}

/**
 * Writes the index as an OCI image layout (directory, or archive when `target` ends in .tar):
 * every child's blobs, the index blob, and index.json naming the index under each tag.
 */
export async function writeIndexLayout(
  target: string,
  index: Blob & { bytes: Buffer },
  images: readonly BuiltImage[],
  tags: string[],
  mtimeClamp: number,
): Promise<'directory' | 'archive'> {
  return writeLayout(
    target,
    async (dir) => {
      for (const image of images) await fillLayoutBlobs(dir, image);
      await fs.writeFile(path.join(dir, 'blobs', 'sha256', index.digest.slice(7)), index.bytes);
      const descriptor = { mediaType: MEDIA_TYPES.index, digest: index.digest, size: index.size };
      const layoutIndex = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.index,
        manifests: (tags.length ? tags : [undefined]).map((tag) => ({
          ...descriptor,
          ...(tag ? { annotations: { 'org.opencontainers.image.ref.name': tag } } : {}),
        })),
      };
      await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(layoutIndex));
    },
    mtimeClamp,
  );
}
