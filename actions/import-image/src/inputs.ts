import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { parseImageReference, type ImageReference } from '../../core/src/image-ref.js';
import {
  booleanInput,
  enumInput,
  integerInput,
  keyValueInput,
  listInput,
  optionalInput,
  requiredInput,
  secretInput,
} from '../../core/src/inputs.js';
import type { Platform } from './oci.js';
import {
  checkImage,
  checkInsecure,
  checkSource,
  parseArgv,
  parseEnv,
  parsePlatform,
  parsePorts,
  type Insecure,
} from './config.js';

/** import-image's inputs, keyed by the action.yml names, validated up front. */
export interface Inputs {
  root?: string;
  tarball?: string;
  manifest?: string;
  image: ImageReference;
  /** The image input as given, without a tag. */
  imageName: string;
  tags: string[];
  labels: Array<[string, string]>;
  annotations: Array<[string, string]>;
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workdir?: string;
  user?: string;
  exposedPorts: string[];
  platform?: Platform;
  output?: string;
  push: boolean;
  registryUsername?: string;
  registryPassword?: string;
  /** Plain HTTP (allowed by the insecure rules). */
  plainHttp: boolean;
  sshTunnel?: {
    host: string;
    port: number;
    user: string;
    key: string;
    knownHosts: string;
  };
  mode: 'oci' | 'docker';
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

async function checkPath(
  input: string,
  value: string,
  kind: 'directory' | 'file',
): Promise<string> {
  const resolved = path.resolve(value);
  const stat = await fs.stat(resolved).catch(() => undefined);
  if (!stat || (kind === 'directory' ? !stat.isDirectory() : !stat.isFile())) {
    throw new InputError(input, `${value} is not an existing ${kind}.`);
  }
  return resolved;
}

export async function getInputs(): Promise<Inputs> {
  const rootText = optionalInput('root');
  const tarballText = optionalInput('tarball');
  checkSource(rootText, tarballText);
  const root = rootText ? await checkPath('root', rootText, 'directory') : undefined;
  const tarball = tarballText ? await checkPath('tarball', tarballText, 'file') : undefined;
  const manifestText = optionalInput('manifest');
  const manifest = manifestText ? await checkPath('manifest', manifestText, 'file') : undefined;

  const imageText = requiredInput('image');
  let image: ImageReference;
  try {
    image = parseImageReference(imageText, 'Input "image"');
  } catch (error) {
    throw new InputError('image', (error as Error).message.replace(/^Input "image" /, ''));
  }
  const tags = listInput('tags').flatMap((line) => line.split(/[\s,]+/).filter(Boolean));
  checkImage(image, tags.length > 0);

  const mode = enumInput('mode', ['oci', 'docker'] as const, 'oci');
  const push = booleanInput('push', true);
  const output = optionalInput('output');
  if (!push && !output && mode === 'oci') {
    throw new InputError(
      'push',
      'is false and no "output" is set: the image would be thrown away.',
    );
  }
  const tunnel = booleanInput('ssh-tunnel', false);
  const insecure = enumInput('insecure', ['false', 'true', 'force'] as const, 'false') as Insecure;
  const plainHttp = checkInsecure(insecure, image.registry, tunnel);

  const platformText = optionalInput('platform');
  let sshTunnel: Inputs['sshTunnel'];
  if (tunnel) {
    const key = secretInput('ssh-key');
    const knownHosts = optionalInput('known-hosts');
    if (!key)
      throw new InputError('ssh-key', 'is required with ssh-tunnel (the private key itself).');
    if (!knownHosts) {
      throw new InputError(
        'known-hosts',
        "is required with ssh-tunnel (the host's known_hosts lines; the host key is always checked).",
      );
    }
    sshTunnel = {
      host: requiredInput('ssh-host'),
      port: integerInput('ssh-port', { min: 1, max: 65535 }, 22),
      user: requiredInput('ssh-user'),
      key,
      knownHosts,
    };
  }
  const labels = keyValueInput('labels', LABEL_KEY);
  const annotations = keyValueInput('annotations', LABEL_KEY);
  const registryUsername = optionalInput('registry-username');
  const registryPassword = secretInput('registry-password');
  if (registryPassword !== undefined && !registryUsername) {
    throw new InputError('registry-username', 'is required when registry-password is given.');
  }
  return {
    root,
    tarball,
    manifest,
    image,
    imageName: `${image.registry}/${image.repository}`,
    tags,
    labels,
    annotations,
    entrypoint: parseArgv('entrypoint', optionalInput('entrypoint')),
    cmd: parseArgv('cmd', optionalInput('cmd')),
    env: parseEnv(keyValueInput('env', /^[A-Za-z_][A-Za-z0-9_]*$/)),
    workdir: optionalInput('workdir'),
    user: optionalInput('user'),
    exposedPorts: parsePorts(optionalInput('exposed-ports')),
    platform: platformText ? parsePlatform(platformText) : undefined,
    output: output ? path.resolve(output) : undefined,
    push,
    registryUsername,
    registryPassword,
    plainHttp,
    sshTunnel,
    mode,
  };
}
