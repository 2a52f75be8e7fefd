import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(180_000);

/**
 * Credentials from a Docker config file only, as docker/login-action leaves them: plain `auths`,
 * and a `docker-credential-*` helper on PATH named by `credHelpers` or `credsStore`, against a
 * real docker-registry behind htpasswd; skopeo reads the pushes back with its own credentials.
 * Then docker/metadata-action's outputs: full references in `tags`, prefixed `annotations`.
 */

let work: string;
let root: string;
let registry: TestRegistry;
const user = 'pusher';
const password = `pw-${randomBytes(12).toString('hex')}`;
const commit = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-credentials-'));
  root = path.join(work, 'root');
  await makeAppRoot(root, { commit });
  registry = await startRegistry({ htpasswd: { user, password } });
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** A DOCKER_CONFIG directory with this config.json. */
async function dockerConfig(name: string, config: unknown): Promise<string> {
  const dir = path.join(work, 'configs', name);
  await fs.mkdir(dir, { recursive: true });
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  await fs.writeFile(path.join(dir, 'config.json'), text);
  return dir;
}

/**
 * A bin directory holding `docker-credential-<name>`: a shell script in the helper protocol
 * (`get`, the server on stdin, JSON on stdout) that logs each server it is asked for.
 */
async function credentialHelper(
  name: string,
  body: string,
): Promise<{ bin: string; asked: string }> {
  const bin = path.join(work, `bin-${name}`);
  const asked = path.join(bin, 'asked');
  await fs.mkdir(bin, { recursive: true });
  const script = path.join(bin, `docker-credential-${name}`);
  await fs.writeFile(
    script,
    `#!/bin/sh\n[ "$1" = get ] || exit 2\nread -r server\necho "$server" >> '${asked}'\n${body}\n`,
  );
  await fs.chmod(script, 0o755);
  return { bin, asked };
}

function helperAnswering(username: string, secret: string): string {
  return [
    `if [ "$server" = '${registry.address}' ]; then`,
    `  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${username}' '${secret}'`,
    'else echo "credentials not found in native keychain"; exit 1; fi',
  ].join('\n');
}

function skopeoDigest(reference: string): string {
  const out = execFileSync(
    'skopeo',
    ['inspect', '--tls-verify=false', '--creds', `${user}:${password}`, `docker://${reference}`],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { Digest: string }).Digest;
}

function skopeoRaw(reference: string): { annotations?: Record<string, string> } {
  const out = execFileSync(
    'skopeo',
    [
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--creds',
      `${user}:${password}`,
      `docker://${reference}`,
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as { annotations?: Record<string, string> };
}

/** The log without the mask commands, which are the one place a secret may appear. */
function unmasked(log: string): string {
  return log
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
}

async function push(
  repository: string,
  env: NodeJS.ProcessEnv,
  inputs: Record<string, string> = {},
) {
  return runBundle(
    'import-image',
    { root, image: `${registry.address}/${repository}`, insecure: 'true', tags: 'v1', ...inputs },
    env,
  );
}

describe('registry credentials from the Docker config', () => {
  test('plain auths: the push succeeds, the password is masked and printed nowhere', async () => {
    const dir = await dockerConfig('auths', {
      auths: { [registry.address]: { auth: base64(`${user}:${password}`) } },
    });
    const result = await push('cred/auths', { DOCKER_CONFIG: dir });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.log).toContain(
      `registry credentials for ${registry.address} from ${dir}/config.json auths "${registry.address}"`,
    );
    expect(skopeoDigest(`${registry.address}/cred/auths:v1`)).toBe(result.outputs.digest);
    expect(result.log).toContain(`::add-mask::${password}`);
    expect(unmasked(result.log)).not.toContain(password);
  });

  test('a legacy http://host/v1/ key is the same registry', async () => {
    const dir = await dockerConfig('legacy', {
      auths: { [`http://${registry.address}/v1/`]: { auth: base64(`${user}:${password}`) } },
    });
    const result = await push('cred/legacy', { DOCKER_CONFIG: dir });
    expect(errorLines(result.log)).toEqual([]);
    expect(skopeoDigest(`${registry.address}/cred/legacy:v1`)).toBe(result.outputs.digest);
  });

  test.each([
    ['credHelpers', (name: string) => ({ credHelpers: { [registry.address]: name } })],
    ['credsStore', (name: string) => ({ credsStore: name })],
  ])('a docker-credential helper named by %s, found on PATH', async (kind, config) => {
    const name = `arch-core-${kind.toLowerCase()}`;
    const helper = await credentialHelper(name, helperAnswering(user, password));
    const dir = await dockerConfig(kind, config(name));
    const result = await push(`cred/${kind.toLowerCase()}`, {
      DOCKER_CONFIG: dir,
      PATH: `${helper.bin}:${process.env.PATH ?? ''}`,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(skopeoDigest(`${registry.address}/cred/${kind.toLowerCase()}:v1`)).toBe(
      result.outputs.digest,
    );
    expect((await fs.readFile(helper.asked, 'utf8')).trim()).toBe(registry.address);
    expect(unmasked(result.log)).not.toContain(password);
  });

  test('a credsStore that holds nothing for the registry falls back to auths', async () => {
    const helper = await credentialHelper(
      'empty-store',
      'echo "credentials not found in native keychain"; exit 1',
    );
    const dir = await dockerConfig('empty-store', {
      credsStore: 'empty-store',
      auths: { [registry.address]: { auth: base64(`${user}:${password}`) } },
    });
    const result = await push('cred/fallback', {
      DOCKER_CONFIG: dir,
      PATH: `${helper.bin}:${process.env.PATH ?? ''}`,
    });
    expect(errorLines(result.log)).toEqual([]);
    expect((await fs.readFile(helper.asked, 'utf8')).trim()).toBe(registry.address);
    expect(skopeoDigest(`${registry.address}/cred/fallback:v1`)).toBe(result.outputs.digest);
  });

  test('a helper answering Username <token> gives an identity token, which Basic auth cannot take', async () => {
    const token = `it-${randomBytes(8).toString('hex')}`;
    const helper = await credentialHelper('token', helperAnswering('<token>', token));
    const dir = await dockerConfig('token', { credHelpers: { [registry.address]: 'token' } });
    const result = await push('cred/token', {
      DOCKER_CONFIG: dir,
      PATH: `${helper.bin}:${process.env.PATH ?? ''}`,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      expect.stringContaining(
        `Registry ${registry.address} asks for an authentication an identity token (from ${dir}/config.json credHelpers "${registry.address}") cannot answer`,
      ),
    ]);
    expect(unmasked(result.log)).not.toContain(token);
  });

  test('explicit inputs win over the Docker config', async () => {
    const dir = await dockerConfig('wrong-but-overridden', {
      auths: { [registry.address]: { auth: base64(`${user}:not-it`) } },
    });
    const result = await push(
      'cred/explicit',
      { DOCKER_CONFIG: dir },
      {
        'registry-username': user,
        'registry-password': password,
      },
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.log).not.toContain('registry credentials for');
  });

  test('wrong credentials in the config fail at once, naming the entry, the password masked', async () => {
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const dir = await dockerConfig('wrong', {
      auths: { [registry.address]: { auth: base64(`${user}:${wrong}`) } },
    });
    const result = await push('cred/wrong', { DOCKER_CONFIG: dir });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      expect.stringContaining(
        `Registry ${registry.address} refused the credentials of user "${user}" (from ${dir}/config.json auths "${registry.address}") (HTTP 401`,
      ),
    ]);
    expect(unmasked(result.log)).not.toContain(wrong);
    expect(result.log).not.toMatch(/retry/);
  });

  test.each([
    [
      'a malformed config.json names the file',
      async () => ({ DOCKER_CONFIG: await dockerConfig('malformed', '{"auths": {') }),
      (dir: string) => `The Docker config ${dir}/config.json is not valid JSON`,
    ],
    [
      'a helper not on PATH names itself and the config entry',
      async () => ({ DOCKER_CONFIG: await dockerConfig('missing', { credsStore: 'not-here' }) }),
      (dir: string) =>
        `The command "docker-credential-not-here" is not installed: it is named by ${dir}/config.json credsStore`,
    ],
    [
      'a failing helper: its stderr, not its secrets',
      async () => {
        const helper = await credentialHelper(
          'failing',
          `echo "the keychain is locked" >&2; echo '{"Secret":"${password}"}'; exit 3`,
        );
        const dir = await dockerConfig('failing', {
          credHelpers: { [registry.address]: 'failing' },
        });
        return { DOCKER_CONFIG: dir, PATH: `${helper.bin}:${process.env.PATH ?? ''}` };
      },
      (dir: string) =>
        `docker-credential-failing get (${dir}/config.json credHelpers "${registry.address}") failed with code 3 for ${registry.address}: the keychain is locked`,
    ],
  ])('%s', async (_what, environment, message) => {
    const env = await environment();
    const result = await push('cred/broken', env);
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message(env.DOCKER_CONFIG as string));
    expect(unmasked(result.log)).not.toContain(password);
  });
});

describe("docker/metadata-action's outputs", () => {
  let config: string;
  beforeAll(async () => {
    config = await dockerConfig('metadata', {
      auths: { [registry.address]: { auth: base64(`${user}:${password}`) } },
    });
  });

  test('full references as tags and prefixed annotations: the pushed manifest shows them', async () => {
    const image = `${registry.address}/eco/app`;
    const result = await push(
      'eco/app',
      {
        DOCKER_CONFIG: config,
        GITHUB_SERVER_URL: 'https://github.example',
        GITHUB_REPOSITORY: 'eco/app',
      },
      {
        tags: `${image}:9.9.9\n${image}:latest`,
        annotations: [
          'manifest:org.opencontainers.image.description=the eco app',
          'index:org.opencontainers.image.vendor=eco',
          'manifest,index:org.opencontainers.image.licenses=MIT',
          'manifest-descriptor:org.example.descriptor=1',
        ].join('\n'),
      },
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.outputs.tags?.split('\n')).toEqual(['9.9.9', 'latest']);
    expect(skopeoDigest(`${image}:9.9.9`)).toBe(result.outputs.digest);
    expect(skopeoDigest(`${image}:latest`)).toBe(result.outputs.digest);
    expect(skopeoRaw(`${image}:9.9.9`).annotations).toEqual({
      'org.opencontainers.image.description': 'the eco app',
      'org.opencontainers.image.licenses': 'MIT',
    });
    const notices = result.log.split('\n').filter((line) => line.startsWith('::notice::'));
    expect(notices).toEqual([
      '::notice::annotations: ignored org.opencontainers.image.vendor: index level, and a single-platform push has no image index.',
      '::notice::annotations: ignored org.opencontainers.image.licenses: index level, and a single-platform push has no image index.',
      '::notice::annotations: ignored org.example.descriptor: manifest-descriptor level, and a single-platform push has no image index.',
    ]);
    const inspected = JSON.parse(
      execFileSync(
        'skopeo',
        [
          'inspect',
          '--tls-verify=false',
          '--creds',
          `${user}:${password}`,
          `docker://${image}:latest`,
        ],
        { encoding: 'utf8' },
      ),
    ) as { Labels: Record<string, string> };
    expect(inspected.Labels['org.opencontainers.image.revision']).toBe(commit);
    expect(inspected.Labels['org.opencontainers.image.source']).toBe(
      'https://github.example/eco/app',
    );
  });

  test('a reference to another repository is one line naming tags and why', async () => {
    const result = await push(
      'eco/app',
      { DOCKER_CONFIG: config },
      {
        tags: `${registry.address}/eco/other:1`,
      },
    );
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([
      `Input "tags": "${registry.address}/eco/other:1" names the repository ${registry.address}/eco/other, not the image input's ${registry.address}/eco/app; one run pushes to one repository.`,
    ]);
  });
});
