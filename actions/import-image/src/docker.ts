import * as core from '@actions/core';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { exec } from '../../core/src/exec.js';
import type { Layer, Platform, RuntimeConfig } from './oci.js';
import { clientCredentials, type RegistryCredential } from './docker-credentials.js';
import { RegistryClient } from '../../core/src/registry.js';
import { dockerChanges, formatPlatform } from './config.js';

export interface DockerJob {
  layer: Layer;
  runtime: RuntimeConfig;
  platform: Platform;
  repository: string;
  /** The image's registry, host[:port]. */
  registry: string;
  /** host:port the docker daemon pushes to (a tunnel's 127.0.0.1:PORT, or the registry). */
  pushAddress: string;
  tags: string[];
  push: boolean;
  plainHttp: boolean;
  credential?: RegistryCredential;
  work: string;
}

const HINT = 'install the docker CLI and point DOCKER_HOST at a Docker-compatible daemon';

/** The argv of `docker import` for the same layer and config the oci mode makes. */
export function dockerImportArgs(
  runtime: RuntimeConfig,
  platform: Platform,
  layerFile: string,
  target: string,
): string[] {
  const args = ['import'];
  for (const change of dockerChanges(runtime)) args.push('--change', change);
  args.push('--platform', formatPlatform(platform));
  args.push(layerFile, target);
  return args;
}

/** The last `sha256:...` of docker import's output (podman prints `sha256:X: sha256:X`). */
export function importedId(output: string): string {
  const ids = output.match(/sha256:[a-f0-9]{64}/g);
  if (!ids) throw new UserError(`docker import printed no image id: ${output.trim()}`);
  return ids[ids.length - 1] as string;
}

/** `digest: sha256:... size: N` of docker push's output. */
export function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[a-f0-9]{64})/.exec(output)?.[1];
}

/**
 * mode: docker — `docker import --change ...` of the layer, `docker tag` for each further tag,
 * `docker push` of each, through whatever daemon DOCKER_HOST names. docker uses the user's own
 * Docker config (docker/login-action's login counts), unless credentials must be given to it:
 * explicit inputs, or a tunnel's address the user's config knows nothing of. Those go to a
 * private DOCKER_CONFIG by `docker login --password-stdin`, never on a command line.
 */
export async function dockerImportAndPush(job: DockerJob): Promise<{
  digest?: string;
  configDigest: string;
  layerDigest: string;
  sizeBytes: number;
}> {
  const login = privateLogin(job);
  const privateConfig = path.join(job.work, 'docker-config');
  if (login) await fs.mkdir(privateConfig, { recursive: true, mode: 0o700 });
  const env = login ? { ...process.env, DOCKER_CONFIG: privateConfig } : process.env;
  const local = `${job.pushAddress}/${job.repository}`;
  const [first, ...rest] = job.tags as [string, ...string[]];
  const imported = await exec(
    'docker',
    dockerImportArgs(job.runtime, job.platform, job.layer.file, `${local}:${first}`),
    { env, missingHint: HINT, group: `docker import ${local}:${first}` },
  );
  const id = importedId(imported.stdout);
  core.info(`imported ${id}`);
  for (const tag of rest) {
    await exec('docker', ['tag', `${local}:${first}`, `${local}:${tag}`], {
      env,
      missingHint: HINT,
    });
  }
  if (!job.push) {
    return { configDigest: id, layerDigest: job.layer.digest, sizeBytes: job.layer.size };
  }
  if (login) {
    await exec(
      'docker',
      ['login', '--username', login.username, '--password-stdin', job.pushAddress],
      {
        env,
        input: login.password,
        missingHint: HINT,
      },
    );
  }
  let digest: string | undefined;
  for (const tag of job.tags) {
    const pushed = await exec('docker', ['push', `${local}:${tag}`], { env, missingHint: HINT });
    digest = pushedDigest(pushed.output) ?? digest;
  }
  // What the registry now holds, read back over the registry API.
  const client = new RegistryClient({
    address: job.pushAddress,
    insecure: job.plainHttp,
    ...clientCredentials(job.credential),
    log: (line) => core.info(line),
  });
  try {
    const manifest = await client.getManifest(job.repository, job.tags[0] as string);
    const parsed = JSON.parse(manifest.bytes.toString()) as {
      config: { digest: string };
      layers: Array<{ digest: string; size: number }>;
    };
    const layer = parsed.layers[0];
    if (!layer) throw new UserError(`The pushed image ${local} has no layer.`);
    return {
      digest: manifest.digest ?? digest,
      configDigest: parsed.config.digest,
      layerDigest: layer.digest,
      sizeBytes: layer.size,
    };
  } finally {
    client.close();
  }
}

/** The user and password to `docker login` with privately, or undefined to use the user's config. */
function privateLogin(job: DockerJob): { username: string; password: string } | undefined {
  const { username, password, from } = job.credential ?? {};
  if (!job.push || !username || password === undefined) return undefined;
  const explicit = from === undefined;
  return explicit || job.pushAddress !== job.registry ? { username, password } : undefined;
}
