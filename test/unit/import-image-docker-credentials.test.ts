import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  credentialOfAuthEntry,
  dockerConfigCredential,
  dockerConfigPath,
  entryFor,
  registryCredential,
  registryHostOf,
} from '../../actions/import-image/src/docker-credentials.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'docker-credentials-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** A DOCKER_CONFIG directory holding `config` as config.json (a string is written as is). */
async function configDir(name: string, config: unknown): Promise<NodeJS.ProcessEnv> {
  const dir = path.join(work, name);
  await fs.mkdir(dir, { recursive: true });
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  await fs.writeFile(path.join(dir, 'config.json'), text);
  return { DOCKER_CONFIG: dir };
}

describe('registry keys as Docker compares them', () => {
  test.each([
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://127.0.0.1:5000/v1/', '127.0.0.1:5000'],
    ['http://registry.example:5000', 'registry.example:5000'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['ghcr.io', 'ghcr.io'],
  ])('registryHostOf(%s) = %s', (key, host) => expect(registryHostOf(key)).toBe(host));

  test('the exact key first, then a legacy https://host/v1/ key; a different port is not it', () => {
    const auths = { 'https://reg.example:5000/v1/': 'legacy', 'reg.example:5001': 'other' };
    expect(entryFor(auths, 'reg.example:5000')).toEqual(['https://reg.example:5000/v1/', 'legacy']);
    expect(entryFor({ ...auths, 'reg.example:5000': 'exact' }, 'reg.example:5000')).toEqual([
      'reg.example:5000',
      'exact',
    ]);
    expect(entryFor(auths, 'reg.example')).toBeUndefined();
    expect(entryFor({ 'https://index.docker.io/v1/': 'hub' }, 'docker.io')?.[1]).toBe('hub');
  });

  test('DOCKER_CONFIG names the directory; else ~/.docker', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/x/y' })).toBe('/x/y/config.json');
    expect(dockerConfigPath({})).toBe(path.join(os.homedir(), '.docker', 'config.json'));
  });
});

describe('auths entries', () => {
  test('base64 user:password, the password may hold colons', () => {
    expect(credentialOfAuthEntry({ auth: base64('pusher:pa:ss') }, 'f')).toEqual({
      username: 'pusher',
      password: 'pa:ss',
      from: 'f',
    });
  });
  test('an identitytoken is kept as the refresh token', () => {
    expect(
      credentialOfAuthEntry({ auth: base64('someone:'), identitytoken: 'refresh-1' }, 'f'),
    ).toEqual({ username: 'someone', identityToken: 'refresh-1', from: 'f' });
  });
  test('an auth that is not user:password is refused naming the entry', () => {
    expect(() => credentialOfAuthEntry({ auth: base64('nocolon') }, 'FILE auths "r"')).toThrow(
      'FILE auths "r": "auth" is not base64 of user:password.',
    );
  });
  test('an entry without credentials gives none', () => {
    expect(credentialOfAuthEntry({}, 'f')).toBeUndefined();
  });
});

describe('the Docker config file', () => {
  test('an auths entry for the registry is found; another registry has none', async () => {
    const env = await configDir('plain', {
      auths: { '127.0.0.1:5000': { auth: base64('pusher:secret') } },
    });
    const file = path.join(env.DOCKER_CONFIG as string, 'config.json');
    expect(await dockerConfigCredential('127.0.0.1:5000', env)).toEqual({
      username: 'pusher',
      password: 'secret',
      from: `${file} auths "127.0.0.1:5000"`,
    });
    expect(await dockerConfigCredential('127.0.0.1:5001', env)).toBeUndefined();
  });

  test('no config.json: no credential, no error', async () => {
    expect(
      await dockerConfigCredential('127.0.0.1:5000', { DOCKER_CONFIG: path.join(work, 'none') }),
    ).toBeUndefined();
  });

  test('a malformed config.json is an error naming the file', async () => {
    const env = await configDir('broken', '{"auths": {');
    const file = path.join(env.DOCKER_CONFIG as string, 'config.json');
    await expect(dockerConfigCredential('127.0.0.1:5000', env)).rejects.toThrow(
      `The Docker config ${file} is not valid JSON`,
    );
    const array = await configDir('array', '[]');
    await expect(dockerConfigCredential('127.0.0.1:5000', array)).rejects.toThrow(
      'is not a JSON object',
    );
  });

  test('explicit inputs win over the Docker config, which is then not read', async () => {
    const previous = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = (await configDir('ignored', '{not json')).DOCKER_CONFIG;
    try {
      expect(await registryCredential('me', 'pw', '127.0.0.1:5000')).toEqual({
        username: 'me',
        password: 'pw',
      });
    } finally {
      if (previous === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = previous;
    }
  });
});
