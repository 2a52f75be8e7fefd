import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';

jest.setTimeout(60_000);

let work: string;
let root: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-inputs-'));
  root = path.join(work, 'root');
  await makeAppRoot(root);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('import-image refuses bad inputs with one clear line and leaves nothing behind', () => {
  test.each([
    ['neither root nor tarball', {}, /^Input "root": give "root" \(a directory\) or "tarball"/],
    [
      'both root and tarball',
      { root: 'ROOT', tarball: 'ROOT/etc/hello.conf' },
      /^Input "root": give either "root" or "tarball", not both\.$/,
    ],
    [
      'an invalid tag',
      { root: 'ROOT', tags: 'v1\n-bad' },
      /^Input "tags": "-bad" is not a valid tag/,
    ],
    [
      'an invalid image name',
      { root: 'ROOT', image: '127.0.0.1:5000/Team/App' },
      /^Input "image": .*repository "Team\/App" is not valid/,
    ],
    [
      'an image with a digest',
      { root: 'ROOT', image: `127.0.0.1:5000/app@sha256:${'a'.repeat(64)}` },
      /^Input "image": name a repository without @digest/,
    ],
    [
      'insecure for a non-loopback registry',
      { root: 'ROOT', image: 'registry.example.com:5000/app', insecure: 'true' },
      /^Input "insecure": plain HTTP to registry\.example\.com:5000 is allowed only .* use "force"/,
    ],
    [
      'a root that does not exist',
      { root: 'ROOT/missing' },
      /^Input "root": .*missing is not an existing directory\.$/,
    ],
    [
      'a bad platform',
      { root: 'ROOT', platform: 'linux' },
      /^Input "platform": "linux" is not os\/architecture/,
    ],
    [
      'a bad mode',
      { root: 'ROOT', mode: 'podman' },
      /^Input "mode": "podman" is not one of oci, docker\.$/,
    ],
    [
      'ssh-tunnel without known-hosts',
      {
        root: 'ROOT',
        'ssh-tunnel': 'true',
        'ssh-host': 'h',
        'ssh-user': 'u',
        'ssh-key': 'KEYTEXT-SECRET',
      },
      /^Input "known-hosts": is required with ssh-tunnel/,
    ],
    [
      'a password without a user',
      { root: 'ROOT', 'registry-password': 'pw-secret-1' },
      /^Input "registry-username": is required when registry-password is given\.$/,
    ],
    [
      'push false and no output',
      { root: 'ROOT', push: 'false', output: '' },
      /^Input "push": is false and no "output" is set/,
    ],
  ])('%s', async (what, given, message) => {
    const inputs: Record<string, string> = { image: '127.0.0.1:5000/team/app', insecure: 'true' };
    for (const [key, value] of Object.entries(given)) inputs[key] = value.replace('ROOT', root);
    const out = path.join(work, what.replace(/\W+/g, '-'));
    const output = path.join(out, 'layout');
    if (!('output' in given)) inputs.output = output;
    const result = await runBundle('import-image', inputs);
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(result.log).not.toMatch(/\n\s+at /);
    expect(result.log.replace(/^::add-mask::.*$/gm, '')).not.toContain('KEYTEXT-SECRET');
    await expect(fs.readdir(out).catch(() => [])).resolves.toEqual([]);
  });
});
