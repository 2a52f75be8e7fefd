import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { startPodmanService, type PodmanService } from '../helpers/import-image-podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

jest.setTimeout(240_000);

let work: string;
let registry: TestRegistry;
/** A registry behind htpasswd, for docker/login-action's credentials. */
let secured: TestRegistry;
let podman: PodmanService;
const password = `pw-${randomBytes(12).toString('hex')}`;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'import-image-docker-'));
  registry = await startRegistry();
  secured = await startRegistry({ htpasswd: { user: 'pusher', password } });
  podman = await startPodmanService([registry.address, secured.address]);
});
afterAll(async () => {
  await podman?.stop();
  await registry?.stop();
  await secured?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function inspect(reference: string): {
  Digest: string;
  Labels: Record<string, string>;
  Architecture: string;
} {
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as {
    Digest: string;
    Labels: Record<string, string>;
    Architecture: string;
  };
}

describe('mode: docker, for real (docker CLI → podman system service)', () => {
  test('docker import + docker push; the labels match the oci mode', async () => {
    const root = path.join(work, 'root');
    await makeAppRoot(root, { text: 'Hello through docker import' });
    const common = {
      root,
      insecure: 'true',
      labels: 'com.example.team=platform',
      cmd: '/usr/bin/hello',
    };
    const docker = await runBundle(
      'import-image',
      { ...common, image: `${registry.address}/docker/hello`, mode: 'docker' },
      podman.env,
    );
    expect(errorLines(docker.log)).toEqual([]);
    expect(docker.code).toBe(0);
    expect(docker.log).toMatch(/docker import --change/);
    expect(docker.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const oci = await runBundle('import-image', {
      ...common,
      image: `${registry.address}/oci/hello`,
    });
    expect(oci.code).toBe(0);

    const viaDocker = inspect(`${registry.address}/docker/hello:1.2.r14.0a1b2c3d4e5f-1`);
    const viaOci = inspect(`${registry.address}/oci/hello:1.2.r14.0a1b2c3d4e5f-1`);
    expect(viaDocker.Digest).toBe(docker.outputs.digest);
    expect(inspect(`${registry.address}/docker/hello:latest`).Digest).toBe(docker.outputs.digest);
    expect(viaDocker.Labels).toEqual(viaOci.Labels);
    expect(viaDocker.Labels['org.archlinux.package.glibc']).toBe('2.39-1');
    expect(viaDocker.Architecture).toBe('amd64');
    const dockerMetadata = JSON.parse(docker.outputs.metadata ?? '{}') as {
      labels: unknown;
      mode: string;
    };
    expect(dockerMetadata.mode).toBe('docker');

    // The daemon's copy runs the app.
    const ran = execFileSync(
      'docker',
      ['run', '--rm', '--network', 'none', `${registry.address}/docker/hello:latest`],
      { env: podman.env, encoding: 'utf8' },
    );
    expect(ran.trim()).toBe('Hello through docker import');
  });

  test("docker pushes with the user's Docker config, as docker/login-action left it", async () => {
    const root = path.join(work, 'root-login');
    await makeAppRoot(root);
    const config = path.join(work, 'docker-config');
    await fs.mkdir(config, { recursive: true });
    const auth = Buffer.from(`pusher:${password}`).toString('base64');
    await fs.writeFile(
      path.join(config, 'config.json'),
      JSON.stringify({ auths: { [secured.address]: { auth } } }),
    );
    const image = `${secured.address}/docker/login`;
    const result = await runBundle(
      'import-image',
      { root, image, insecure: 'true', mode: 'docker', tags: 'v1' },
      { ...podman.env, DOCKER_CONFIG: config },
    );
    expect(errorLines(result.log)).toEqual([]);
    expect(result.code).toBe(0);
    // No private login: docker read the user's config itself.
    expect(result.log).not.toMatch(/docker login/);
    const out = execFileSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--creds', `pusher:${password}`, `docker://${image}:v1`],
      { encoding: 'utf8' },
    );
    expect((JSON.parse(out) as { Digest: string }).Digest).toBe(result.outputs.digest);
    expect(
      result.log
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(password);
  });

  test('a docker push that hangs is killed at the timeout, saying which tags are in', async () => {
    const root = path.join(work, 'root-hang');
    await makeAppRoot(root);
    // The real docker CLI for everything but push, which hangs (a daemon or registry gone mute).
    const realDocker = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
    const bin = path.join(work, 'hanging-docker-bin');
    const pidFile = path.join(work, 'hanging-push.pid');
    await fs.mkdir(bin, { recursive: true });
    await fs.writeFile(
      path.join(bin, 'docker'),
      `#!/bin/sh\nif [ "$1" = push ]; then echo $$ > '${pidFile}'; exec sleep 3600; fi\nexec '${realDocker}' "$@"\n`,
      { mode: 0o755 },
    );
    const image = `${registry.address}/docker/hang`;
    const started = Date.now();
    const result = await runBundle(
      'import-image',
      { root, image, insecure: 'true', mode: 'docker', tags: 'v1,v2', timeout: '5' },
      { ...podman.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    );
    const took = Date.now() - started;
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      `docker push ${image}:v1 did not finish within timeout (5 s) and was stopped. Tags pushed: none; not pushed: v1, v2. The registry may hold some of the image's blobs`,
    );
    expect(errors[0]).toContain(
      'tag v1 names either what it named before or the complete new image',
    );
    // The hanging child was killed, not left behind.
    const pid = Number(await fs.readFile(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow();
    // docker import ran before the push's 5 s began; the run ended soon after them.
    expect(took).toBeLessThan(60_000);
    expect(() =>
      execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${image}:v1`], {
        stdio: 'pipe',
      }),
    ).toThrow();
  });

  test('no daemon: a clear error', async () => {
    const root = path.join(work, 'root-nodaemon');
    await makeAppRoot(root);
    const result = await runBundle(
      'import-image',
      { root, image: `${registry.address}/docker/none`, insecure: 'true', mode: 'docker' },
      { DOCKER_HOST: `unix://${work}/no-such.sock` },
    );
    expect(result.code).toBe(1);
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/docker import .* exited with code/);
  });
});
