import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';

/**
 * Registry credentials the way Docker and skopeo find them (docs/dev/registry-auth.md): the
 * `config.json` of `DOCKER_CONFIG` (else `~/.docker`), its `credHelpers` entry for the registry,
 * else its `credsStore`, else its `auths` entry. Every secret found is masked at once.
 */
export interface RegistryCredential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`, or a helper's Username `<token>`). */
  identityToken?: string;
  /** The Docker config file and entry it came from; undefined for the explicit inputs. */
  from?: string;
}

/** The key Docker stores Docker Hub under. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

interface DockerConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** `https://host:port/v1/` → `host:port`; Docker Hub's names → `docker.io`. */
export function registryHostOf(key: string): string {
  const host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host)
    ? 'docker.io'
    : host;
}

/** The entry of `record` whose key names `registry`: the exact key first, then as Docker compares. */
export function entryFor<T>(
  record: Record<string, T> | undefined,
  registry: string,
): [string, T] | undefined {
  if (!record) return undefined;
  if (record[registry] !== undefined) return [registry, record[registry]];
  const wanted = registryHostOf(registry);
  return Object.entries(record).find(([key]) => registryHostOf(key) === wanted);
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG?.trim() || path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

async function readDockerConfig(file: string): Promise<DockerConfigFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`The Docker config ${file} cannot be read: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UserError(`The Docker config ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError(`The Docker config ${file} is not a JSON object.`);
  }
  return value as DockerConfigFile;
}

/** An `auths` entry: base64 `user:password` in `auth` (or plain fields), or an identity token. */
export function credentialOfAuthEntry(
  entry: NonNullable<DockerConfigFile['auths']>[string],
  from: string,
): RegistryCredential | undefined {
  if (typeof entry !== 'object' || entry === null) {
    throw new UserError(`${from} is not an object.`);
  }
  let { username, password } = entry;
  if (entry.auth) {
    core.setSecret(entry.auth);
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new UserError(`${from}: "auth" is not base64 of user:password.`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (password) core.setSecret(password);
  if (entry.identitytoken) core.setSecret(entry.identitytoken);
  if (entry.identitytoken) return { username, identityToken: entry.identitytoken, from };
  if (username && password !== undefined) return { username, password, from };
  return undefined;
}

/** The server address a helper is asked for: Docker Hub's legacy key, else host[:port]. */
function helperServerAddress(registry: string): string {
  return registryHostOf(registry) === 'docker.io' ? DOCKER_HUB_KEY : registry;
}

/** `docker-credential-NAME get`; undefined when it has nothing for the registry. */
export async function credentialFromHelper(
  name: string,
  registry: string,
  from: string,
): Promise<RegistryCredential | undefined> {
  const program = `docker-credential-${name}`;
  const result = await execQuiet(program, ['get'], {
    input: helperServerAddress(registry),
    silent: true,
    allowFailure: true,
    missingHint: `it is named by ${from}; put it on PATH or change the Docker config`,
  });
  if (result.stdout.trim()) core.setSecret(result.stdout.trim());
  if (result.code !== 0) {
    // Helpers say this when they hold nothing for the server (docker-credential-helpers).
    if (/credentials not found/i.test(result.output)) return undefined;
    const said = result.stderr.trim().split('\n').slice(-3).join(' ');
    throw new UserError(
      `${program} get (${from}) failed with code ${result.code} for ${registry}${said ? `: ${said}` : '.'}`,
    );
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(result.stdout) as typeof answer;
  } catch {
    throw new UserError(`${program} get (${from}) did not print JSON {Username, Secret}.`);
  }
  if (typeof answer.Secret !== 'string' || answer.Secret === '') return undefined;
  core.setSecret(answer.Secret);
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  if (username === '<token>') return { identityToken: answer.Secret, from };
  return { username, password: answer.Secret, from };
}

/** The credential for `registry` (host[:port]) in the Docker config, or undefined. */
export async function dockerConfigCredential(
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RegistryCredential | undefined> {
  const file = dockerConfigPath(env);
  const config = await readDockerConfig(file);
  if (!config) return undefined;
  const helper = entryFor(config.credHelpers, registry);
  if (helper) {
    return credentialFromHelper(helper[1], registry, `${file} credHelpers "${helper[0]}"`);
  }
  if (config.credsStore) {
    const stored = await credentialFromHelper(config.credsStore, registry, `${file} credsStore`);
    if (stored) return stored;
  }
  const auth = entryFor(config.auths, registry);
  return auth ? credentialOfAuthEntry(auth[1], `${file} auths "${auth[0]}"`) : undefined;
}

/** The explicit inputs when given (they win), else what the Docker config holds for `registry`. */
export async function registryCredential(
  username: string | undefined,
  password: string | undefined,
  registry: string,
): Promise<RegistryCredential | undefined> {
  if (username) return { username, password };
  const found = await dockerConfigCredential(registry);
  if (found) core.info(`registry credentials for ${registry} from ${found.from}`);
  return found;
}

/** The RegistryClient options of a credential. */
export function clientCredentials(credential: RegistryCredential | undefined): {
  username?: string;
  password?: string;
  identityToken?: string;
  credentialsFrom?: string;
} {
  if (!credential) return {};
  const { username, password, identityToken, from } = credential;
  return { username, password, identityToken, credentialsFrom: from };
}
