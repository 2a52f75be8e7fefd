import { InputError } from '../../core/src/errors.js';
import { messageOf } from '../../core/src/errors.js';
import {
  TAG,
  formatImageReference,
  isLoopbackRegistry,
  parseImageReference,
  type ImageReference,
} from '../../core/src/image-ref.js';
import type { Manifest } from '../../core/src/manifest.js';
import type { Platform, RuntimeConfig } from './oci.js';

/**
 * Pure functions that turn import-image's inputs and the manifest into the image's tags,
 * labels, platform and config, and into `docker import --change` lines. Unit-tested by tables.
 */

/** Above this many packages the constituents go into one JSON label (see README). */
export const MAX_PACKAGE_LABELS = 256;
/** Above this many bytes of package labels, likewise. */
export const MAX_PACKAGE_LABEL_BYTES = 32 * 1024;
export const PACKAGE_LABEL_PREFIX = 'org.archlinux.package.';
export const PACKAGES_JSON_LABEL = 'org.archlinux.packages';

/** linux/386 for i686, linux/amd64 for x86_64 (and the other Arch ports). */
export const PLATFORM_OF_ARCH: Readonly<Record<string, Platform>> = {
  i686: { os: 'linux', architecture: '386' },
  pentium4: { os: 'linux', architecture: '386' },
  x86_64: { os: 'linux', architecture: 'amd64' },
  aarch64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  armv7h: { os: 'linux', architecture: 'arm', variant: 'v7' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
};

export function platformForArch(arch: string): Platform | undefined {
  return Object.hasOwn(PLATFORM_OF_ARCH, arch) ? PLATFORM_OF_ARCH[arch] : undefined;
}

/** `os/arch[/variant]`, e.g. `linux/386`. */
export function parsePlatform(text: string, input = 'platform'): Platform {
  const match = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(text.trim());
  if (!match) {
    throw new InputError(input, `"${text}" is not os/architecture[/variant], e.g. linux/386.`);
  }
  return {
    os: match[1] as string,
    architecture: match[2] as string,
    ...(match[3] ? { variant: match[3] } : {}),
  };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** A pacman version as an image tag: characters a tag cannot hold (`:` of an epoch, `+`) → `_`. */
export function versionAsTag(version: string): string {
  const tag = version.replace(/[^\w.-]/g, '_').replace(/^[.-]+/, '');
  return tag.slice(0, 128);
}

/** `alpine` and `library/alpine` on Docker Hub are one repository, as Docker reads them. */
function sameRepository(a: ImageReference, b: ImageReference): boolean {
  const path = (reference: ImageReference): string =>
    reference.registry === 'docker.io' && !reference.repository.includes('/')
      ? `library/${reference.repository}`
      : reference.repository;
  return a.registry === b.registry && path(a) === path(b);
}

/**
 * One item of the `tags` input: a bare tag, or a full reference as docker/metadata-action
 * writes it (`registry/name:tag`), which must name the image input's repository: one run pushes
 * one image to one repository, so another repository is refused rather than silently dropped.
 */
export function tagOfItem(item: string, image: ImageReference): string {
  if (!item.includes('/') && !item.includes(':')) return item;
  let named: ImageReference;
  try {
    named = parseImageReference(item, 'reference');
  } catch (error) {
    throw new InputError('tags', messageOf(error));
  }
  const repository = formatImageReference({ ...image, tag: undefined });
  if (!sameRepository(named, image)) {
    throw new InputError(
      'tags',
      `"${item}" names the repository ${formatImageReference({ ...named, tag: undefined, digest: undefined })}, not the image input's ${repository}; one run pushes to one repository.`,
    );
  }
  if (!named.tag || named.digest) {
    throw new InputError('tags', `"${item}" names no tag (write ${repository}:TAG or just TAG).`);
  }
  return named.tag;
}

/** Tags as given (validated), else the app version from the manifest and `latest`. */
export function resolveTags(
  given: string[],
  reference: ImageReference,
  manifest: Manifest | undefined,
): string[] {
  let tags = given;
  if (tags.length === 0 && reference.tag) tags = [reference.tag];
  if (tags.length === 0) {
    tags = manifest?.app?.version ? [versionAsTag(manifest.app.version), 'latest'] : ['latest'];
  }
  for (const tag of tags) {
    if (!TAG.test(tag)) {
      throw new InputError(
        'tags',
        `"${tag}" is not a valid tag (letters, digits, _ . -, at most 128 characters, not starting with . or -).`,
      );
    }
  }
  return [...new Set(tags)];
}

export const ANNOTATION_LEVELS = [
  'manifest',
  'index',
  'manifest-descriptor',
  'index-descriptor',
] as const;
export type AnnotationLevel = (typeof ANNOTATION_LEVELS)[number];

/** An `annotations` line: `[level[,level...][[os/arch]]:]key=value`, as build-push-action takes. */
export interface Annotation {
  levels: AnnotationLevel[];
  /** Only for this platform (`os/arch[/variant]`), when the prefix names one. */
  platform?: string;
  key: string;
  value: string;
}

const ANNOTATION_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** Parses one `annotations` line; a line without a prefix is a manifest annotation. */
export function parseAnnotation(line: string): Annotation {
  const equals = line.indexOf('=');
  const left = equals > 0 ? line.slice(0, equals).trim() : '';
  const colon = left.indexOf(':');
  const prefix = colon >= 0 ? left.slice(0, colon) : '';
  const key = colon >= 0 ? left.slice(colon + 1) : left;
  const shape = /^([a-z,-]+)(?:\[([^\]]+)\])?$/.exec(prefix);
  const levels = (shape?.[1] ?? 'manifest').split(',');
  const known = levels.every((level) => (ANNOTATION_LEVELS as readonly string[]).includes(level));
  if (!ANNOTATION_KEY.test(key) || (colon >= 0 && (!shape || !known))) {
    throw new InputError(
      'annotations',
      `line "${line}" is not key=value, optionally prefixed by ${ANNOTATION_LEVELS.join(', ')} (comma-separated) and ":".`,
    );
  }
  return {
    levels: levels as AnnotationLevel[],
    ...(shape?.[2] ? { platform: parsePlatformText(shape[2]) } : {}),
    key,
    value: line.slice(equals + 1).trim(),
  };
}

function parsePlatformText(text: string): string {
  return formatPlatform(parsePlatform(text, 'annotations'));
}

/**
 * The annotations of the image manifest, the only level a single-platform push has: lines for
 * `manifest` (and this platform, when one is named). The index and descriptor levels exist only
 * in an image index, which import-image pushes only with platforms (`inIndex`: the index level
 * is then written there); `ignored` says what was left out and why.
 */
export function manifestAnnotations(
  annotations: Annotation[],
  platform: Platform,
  inIndex = false,
): { manifest: Record<string, string>; ignored: string[] } {
  const manifest: Record<string, string> = {};
  const ignored: string[] = [];
  const ours = formatPlatform(platform);
  // In an index (platforms) another image may take what this one does not, and the index
  // level is written there: platforms.ts's indexAnnotations reports those.
  const written: AnnotationLevel[] = inIndex ? ['manifest', 'index'] : ['manifest'];
  for (const annotation of annotations) {
    if (annotation.platform && annotation.platform !== ours) {
      if (!inIndex) {
        ignored.push(`${annotation.key}: for ${annotation.platform}, the image is ${ours}`);
      }
      continue;
    }
    if (annotation.levels.includes('manifest')) manifest[annotation.key] = annotation.value;
    const elsewhere = annotation.levels.filter((level) => !written.includes(level));
    if (elsewhere.length > 0) {
      const levels = `${annotation.key}: ${elsewhere.join(', ')}`;
      ignored.push(
        inIndex
          ? `${levels} level, and import-image writes no descriptor annotations`
          : `${levels} level, and a single-platform push has no image index`,
      );
    }
  }
  return { manifest, ignored };
}

/** The time the image says it was made: SOURCE_DATE_EPOCH, else the app's commit time. */
export function resolveEpoch(
  sourceDateEpoch: number | undefined,
  manifest: Manifest | undefined,
): { epoch: number; from: string } {
  if (sourceDateEpoch !== undefined) return { epoch: sourceDateEpoch, from: 'SOURCE_DATE_EPOCH' };
  const candidates: Array<[string | undefined, string]> = [
    [manifest?.app?.commitTime, "the app's commit time"],
    [manifest?.created, "the manifest's created time"],
  ];
  for (const [value, from] of candidates) {
    if (!value) continue;
    const millis = Date.parse(value);
    if (Number.isFinite(millis)) return { epoch: Math.floor(millis / 1000), from };
  }
  return { epoch: 0, from: 'no time known (1970-01-01)' };
}

export function isoOf(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * The labels: org.opencontainers.image.* from the manifest's app, one
 * org.archlinux.package.<name>=<version> per package (or, above MAX_PACKAGE_LABELS packages or
 * MAX_PACKAGE_LABEL_BYTES, one org.archlinux.packages label holding {name: version} as JSON),
 * then the user's extra labels, which win. The revision is the full hash when the app record has
 * it; the source is the workflow's repository on a runner (as docker/metadata-action sets it),
 * else the app's.
 */
export function imageLabels(
  manifest: Manifest | undefined,
  created: string,
  title: string,
  extra: Array<[string, string]>,
  runnerRepository?: string,
): Record<string, string> {
  const labels: Record<string, string> = {};
  labels['org.opencontainers.image.created'] = created;
  labels['org.opencontainers.image.title'] = manifest?.app?.name ?? title;
  const app = manifest?.app;
  if (app?.version) labels['org.opencontainers.image.version'] = app.version;
  const revision = app?.commit ?? app?.hash;
  if (revision) labels['org.opencontainers.image.revision'] = revision;
  const source = runnerRepository ?? app?.source;
  if (source) labels['org.opencontainers.image.source'] = source;
  if (manifest) {
    labels['org.archlinux.arch'] = manifest.arch;
    const packages = manifest.packages;
    const bytes = packages.reduce(
      (sum, p) => sum + PACKAGE_LABEL_PREFIX.length + p.name.length + p.version.length,
      0,
    );
    if (packages.length > MAX_PACKAGE_LABELS || bytes > MAX_PACKAGE_LABEL_BYTES) {
      labels[PACKAGES_JSON_LABEL] = JSON.stringify(
        Object.fromEntries(packages.map((p) => [p.name, p.version])),
      );
    } else {
      for (const p of packages) labels[`${PACKAGE_LABEL_PREFIX}${p.name}`] = p.version;
    }
  }
  for (const [key, value] of extra) labels[key] = value;
  return labels;
}

/** `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY` on a runner, else undefined. */
export function runnerRepositoryUrl(env: NodeJS.ProcessEnv): string | undefined {
  const server = env.GITHUB_SERVER_URL?.trim().replace(/\/+$/, '');
  const repository = env.GITHUB_REPOSITORY?.trim();
  return server && repository ? `${server}/${repository}` : undefined;
}

/** `entrypoint`/`cmd`: a JSON array of strings, or one argument per line. */
export function parseArgv(input: string, text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw new InputError(input, `"${trimmed}" is not a JSON array of strings.`);
    }
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw new InputError(input, `"${trimmed}" is not a JSON array of strings.`);
    }
    return value as string[];
  }
  return trimmed
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `exposed-ports`: `8080`, `8080/tcp`, `53/udp`, separated by spaces, commas or lines. */
export function parsePorts(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/[\s,]+/)
    .filter((item) => item !== '')
    .map((item) => {
      const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(item);
      const port = Number(match?.[1]);
      if (!match || port < 1 || port > 65535) {
        throw new InputError('exposed-ports', `"${item}" is not PORT or PORT/tcp|udp|sctp.`);
      }
      return `${port}/${match[2] ?? 'tcp'}`;
    });
}

/** `env`: KEY=value lines. */
export function parseEnv(lines: Array<[string, string]>): string[] {
  return lines.map(([key, value]) => `${key}=${value}`);
}

export type Insecure = 'false' | 'true' | 'force';

/** Plain HTTP is allowed for loopback registries (or through the SSH tunnel), else only forced. */
export function checkInsecure(insecure: Insecure, registry: string, tunneled: boolean): boolean {
  if (insecure === 'false') return false;
  if (insecure === 'true' && !tunneled && !isLoopbackRegistry(registry)) {
    throw new InputError(
      'insecure',
      `plain HTTP to ${registry} is allowed only for a loopback registry or through ssh-tunnel; use "force" if you mean it.`,
    );
  }
  return true;
}

function dockerQuote(value: string): string {
  return JSON.stringify(value);
}

/** The `docker import --change` lines for the same config the oci mode writes. */
export function dockerChanges(runtime: RuntimeConfig): string[] {
  const changes: string[] = [];
  for (const [key, value] of Object.entries(runtime.labels).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    changes.push(`LABEL ${dockerQuote(key)}=${dockerQuote(value)}`);
  }
  for (const entry of runtime.env ?? []) {
    const equals = entry.indexOf('=');
    changes.push(`ENV ${entry.slice(0, equals)}=${dockerQuote(entry.slice(equals + 1))}`);
  }
  if (runtime.entrypoint?.length) changes.push(`ENTRYPOINT ${JSON.stringify(runtime.entrypoint)}`);
  if (runtime.cmd?.length) changes.push(`CMD ${JSON.stringify(runtime.cmd)}`);
  if (runtime.workdir) changes.push(`WORKDIR ${runtime.workdir}`);
  if (runtime.user) changes.push(`USER ${runtime.user}`);
  for (const port of runtime.exposedPorts ?? []) changes.push(`EXPOSE ${port}`);
  return changes;
}

/** Exactly one of root and tarball. */
export function checkSource(root: string | undefined, tarball: string | undefined): void {
  if (root && tarball) {
    throw new InputError('root', 'give either "root" or "tarball", not both.');
  }
  if (!root && !tarball) {
    throw new InputError('root', 'give "root" (a directory) or "tarball" (make-chroot\'s output).');
  }
}

export function checkImage(reference: ImageReference, tagsGiven: boolean): void {
  if (reference.digest) {
    throw new InputError('image', 'name a repository without @digest; the digest is an output.');
  }
  if (reference.tag && tagsGiven) {
    throw new InputError('image', `has the tag "${reference.tag}" and "tags" is set too; use one.`);
  }
}
