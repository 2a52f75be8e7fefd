import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { checkOutputPath } from '../../core/src/files.js';
import type { ImageReference } from '../../core/src/image-ref.js';
import { inputReader, type InputReader, type RawInputs } from '../../core/src/inputs.js';
import { readSshInputs } from '../../core/src/ssh-inputs.js';
import {
  checkImage,
  checkInsecure,
  checkSource,
  parseAnnotation,
  parseArgv,
  parseEnv,
  parsePlatform,
  parsePorts,
  tagOfItem,
  type Annotation,
} from './config.js';
import { DEFAULT_LEVEL, hasZstd, type Compression, type Platform } from './oci.js';
import { parsePlatformLines, type PlatformSource } from './platforms.js';
import { parseSigningKey } from './signature.js';

/** The SSH connection of the tunnel, as core's SSH input reader gives it. */
export type SshTunnel = ReturnType<typeof readSshInputs>;

/** import-image's inputs, keyed by the action.yml names, validated up front. */
export interface Inputs {
  /** Absolute. */
  root?: string;
  /** Absolute. */
  tarball?: string;
  /** One root or tarball per platform, instead of root or tarball: the tags name an index. */
  platforms?: PlatformSource[];
  /** Absolute. */
  manifest?: string;
  /** Absolute: the SBOMs to attach, when not those in the root or tarball. */
  'sbom-spdx'?: string;
  'sbom-cyclonedx'?: string;
  image: ImageReference;
  tags: string[];
  labels: Array<[string, string]>;
  annotations: Annotation[];
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workdir?: string;
  user?: string;
  'exposed-ports': string[];
  platform?: Platform;
  /** Absolute. */
  output?: string;
  push: boolean;
  'registry-username'?: string;
  'registry-password'?: string;
  /** Whether plain HTTP is spoken: the insecure input, allowed by the insecure rules. */
  insecure: boolean;
  /** The tunnel's SSH connection when ssh-tunnel is true. */
  'ssh-tunnel'?: SshTunnel;
  mode: 'oci' | 'docker';
  /** Seconds the whole push (mode oci) may take. */
  timeout: number;
  compression: Compression;
  /** Within the compression's range. */
  'compression-level': number;
  /** The build provenance is attached to the pushed image (mode oci), signed with sign-key. */
  provenance: boolean;
  /** sign-key: each pushed manifest digest gets a signature by it. */
  signKey?: KeyObject;
  /** `app` only with root and mode oci. */
  layers: 'single' | 'app';
  /** Absolute; a directory or not there yet. */
  'cache-dir'?: string;
  /** Only with cache-dir and root. */
  'cache-fingerprint': boolean;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

async function existingPath(
  read: InputReader,
  input: string,
  kind: 'directory' | 'file',
): Promise<string | undefined> {
  const value = read.optional(input);
  if (value === undefined) return undefined;
  const resolved = path.resolve(value);
  const stat = await fs.stat(resolved).catch(() => undefined);
  if (!stat || (kind === 'directory' ? !stat.isDirectory() : !stat.isFile())) {
    throw new InputError(input, `${value} is not an existing ${kind}.`);
  }
  return resolved;
}

/** The image to make and where it goes: image, tags, push, output, mode. */
function readDestination(
  read: InputReader,
): Pick<Inputs, 'image' | 'tags' | 'mode' | 'push' | 'output'> {
  const image = read.image('image');
  const items = read.list('tags').flatMap((line) => line.split(/[\s,]+/).filter(Boolean));
  checkImage(image, items.length > 0);
  const tags = items.map((item) => tagOfItem(item, image));
  const mode = read.oneOf('mode', ['oci', 'docker'] as const);
  const push = read.boolean('push');
  const output = read.optional('output');
  if (!push && !output && mode === 'oci') {
    throw new InputError(
      'push',
      'is false and no "output" is set: the image would be thrown away.',
    );
  }
  return { image, tags, mode, push, output: output ? path.resolve(output) : undefined };
}

const LEVELS: Record<Compression, [number, number]> = { gzip: [1, 9], zstd: [1, 19] };

/** The layer's compression and level; zstd only where this Node has it, and in mode oci. */
function readCompression(
  read: InputReader,
  mode: Inputs['mode'],
): Pick<Inputs, 'compression' | 'compression-level'> {
  const compression = read.oneOf('compression', ['gzip', 'zstd'] as const);
  if (compression === 'zstd' && !hasZstd()) {
    throw new InputError(
      'compression',
      `zstd needs Node 22.15 or later (this is ${process.version}); use gzip or a newer Node.`,
    );
  }
  if (compression === 'zstd' && mode === 'docker') {
    throw new InputError('compression', 'zstd is for mode oci; docker import is given gzip.');
  }
  const [min, max] = LEVELS[compression];
  const level = read.optionalInteger('compression-level', { min, max });
  return { compression, 'compression-level': level ?? DEFAULT_LEVEL[compression] };
}

/** sign-key, which signs what is pushed: only with push, and in mode oci. */
function readSigningKey(
  read: InputReader,
  destination: Pick<Inputs, 'push' | 'mode'>,
): KeyObject | undefined {
  const pem = read.secret('sign-key');
  if (pem === undefined) return undefined;
  if (!destination.push) throw new InputError('sign-key', 'signs what is pushed; set push: true.');
  if (destination.mode === 'docker') {
    throw new InputError('sign-key', 'works with mode oci only; use mode oci to sign.');
  }
  return parseSigningKey(pem);
}

/** How the root is cut into layers, and where compressed layers are cached. */
async function readLayering(
  read: InputReader,
  mode: Inputs['mode'],
  fromTarball: boolean,
): Promise<Pick<Inputs, 'layers' | 'cache-dir' | 'cache-fingerprint'>> {
  const layers = read.oneOf('layers', ['single', 'app'] as const);
  if (layers === 'app' && fromTarball) {
    throw new InputError(
      'layers',
      "app needs root (pacman's database tells the files apart), not tarball.",
    );
  }
  if (layers === 'app' && mode === 'docker') {
    throw new InputError('layers', 'app is for mode oci; docker import makes one layer.');
  }
  const cacheDir = read.optional('cache-dir');
  const fingerprint = read.boolean('cache-fingerprint');
  if (fingerprint && (cacheDir === undefined || fromTarball)) {
    throw new InputError('cache-fingerprint', 'is for a root directory, with cache-dir set.');
  }
  if (cacheDir === undefined) return { layers, 'cache-fingerprint': false };
  const resolved = path.resolve(cacheDir);
  const stat = await fs.stat(resolved).catch(() => undefined);
  if (stat && !stat.isDirectory()) {
    throw new InputError(
      'cache-dir',
      `${cacheDir} is not a directory (give a directory, made if missing).`,
    );
  }
  return { layers, 'cache-dir': resolved, 'cache-fingerprint': fingerprint };
}

/** How the registry is reached: plain HTTP or not, the SSH tunnel, the credentials. */
function readConnection(
  read: InputReader,
  registry: string,
): Pick<Inputs, 'insecure' | 'ssh-tunnel' | 'registry-username' | 'registry-password'> {
  const tunnel = read.boolean('ssh-tunnel');
  const insecure = checkInsecure(
    read.oneOf('insecure', ['false', 'true', 'force'] as const),
    registry,
    tunnel,
  );
  // A missing SSH input reads "is required with ssh-tunnel", as docs/troubleshooting.md quotes.
  const sshTunnel = tunnel
    ? readSshInputs(read, {
        host: 'ssh-host',
        deprecatedPort: 'ssh-port',
        requiredWhen: 'with ssh-tunnel',
      })
    : undefined;
  const username = read.optional('registry-username');
  const password = read.secret('registry-password');
  if (password !== undefined && !username) {
    throw new InputError('registry-username', 'is required when registry-password is given.');
  }
  return {
    insecure,
    'ssh-tunnel': sshTunnel,
    'registry-username': username,
    'registry-password': password,
  };
}

/** An OCI runtime starts the process in WorkingDir: an absolute path, and no way out of the root. */
export function checkWorkdir(workdir: string | undefined): string | undefined {
  if (workdir === undefined) return undefined;
  if (!workdir.startsWith('/') || workdir.split('/').includes('..') || /[\0\n\r]/.test(workdir)) {
    throw new InputError(
      'workdir',
      `"${workdir}" is not an absolute path inside the image (e.g. /srv/app; no ".." parts).`,
    );
  }
  return workdir;
}

const USER_OR_GROUP = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|\d{1,10})$/;

/** The image config's User: a name or uid, optionally `:group` or `:gid`. */
export function checkUser(user: string | undefined): string | undefined {
  if (user === undefined) return undefined;
  const parts = user.split(':');
  if (parts.length > 2 || !parts.every((part) => USER_OR_GROUP.test(part))) {
    throw new InputError(
      'user',
      `"${user}" is not a user: give a name or uid, optionally with :group or :gid (e.g. app, 1000, app:app, 1000:1000).`,
    );
  }
  return user;
}

/** The image's config: labels, annotations, entrypoint, cmd, env, workdir, user, ports, platform. */
function readImageConfig(
  read: InputReader,
): Pick<
  Inputs,
  | 'labels'
  | 'annotations'
  | 'entrypoint'
  | 'cmd'
  | 'env'
  | 'workdir'
  | 'user'
  | 'exposed-ports'
  | 'platform'
> {
  const platform = read.optional('platform');
  return {
    labels: read.keyValues('labels', LABEL_KEY),
    annotations: read.list('annotations').map(parseAnnotation),
    entrypoint: parseArgv('entrypoint', read.optional('entrypoint')),
    cmd: parseArgv('cmd', read.optional('cmd')),
    env: parseEnv(read.keyValues('env', ENV_KEY)),
    workdir: checkWorkdir(read.optional('workdir')),
    user: checkUser(read.optional('user')),
    'exposed-ports': parsePorts(read.optional('exposed-ports')),
    platform: platform ? parsePlatform(platform) : undefined,
  };
}

/** Inputs that name one root's image, which platforms replaces: one per line there. */
const SINGLE_ROOT_INPUTS = [
  'root',
  'tarball',
  'platform',
  'manifest',
  'sbom-spdx',
  'sbom-cyclonedx',
] as const;

/** platforms, alone: none of the single root's inputs, and mode oci (an index is made here). */
async function readPlatforms(read: InputReader): Promise<PlatformSource[] | undefined> {
  const lines = read.list('platforms');
  if (lines.length === 0) {
    checkSource(read.optional('root'), read.optional('tarball'));
    return undefined;
  }
  const clash = SINGLE_ROOT_INPUTS.find((name) => read.optional(name) !== undefined);
  if (clash) {
    throw new InputError(
      'platforms',
      `is given with "${clash}"; give one or the other (with platforms, each root's own manifest and SBOMs are used).`,
    );
  }
  if (read.optional('mode') === 'docker') {
    throw new InputError('platforms', 'is for mode oci; docker import makes one image.');
  }
  return parsePlatformLines(lines);
}

export async function parseInputs(raw: RawInputs): Promise<Inputs> {
  const read = inputReader(raw);
  const platforms = await readPlatforms(read);
  const root = await existingPath(read, 'root', 'directory');
  const tarball = await existingPath(read, 'tarball', 'file');
  const manifest = await existingPath(read, 'manifest', 'file');
  const sbomSpdx = await existingPath(read, 'sbom-spdx', 'file');
  const sbomCyclonedx = await existingPath(read, 'sbom-cyclonedx', 'file');
  const destination = readDestination(read);
  if (destination.output !== undefined) {
    const kind = destination.output.endsWith('.tar') ? 'file' : 'directory';
    await checkOutputPath('output', destination.output, kind);
  }
  const fromTarball = tarball !== undefined || !!platforms?.some((each) => each.tarball);
  return {
    root,
    tarball,
    platforms,
    manifest,
    signKey: readSigningKey(read, destination),
    provenance: read.boolean('provenance'),
    'sbom-spdx': sbomSpdx,
    'sbom-cyclonedx': sbomCyclonedx,
    ...destination,
    timeout: read.integer('timeout', { min: 1, max: 86_400 }),
    ...readCompression(read, destination.mode),
    ...(await readLayering(read, destination.mode, fromTarball)),
    ...readConnection(read, destination.image.registry),
    ...readImageConfig(read),
  };
}
