import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleNode, projectRoot } from '../helpers/bundle.js';
import { makeAppRoot } from '../helpers/import-image-root.js';
import { publicKeyLine } from '../helpers/make-iso-fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

// The `arch-core` command (dist/cli/index.js) as a person runs it: through a pseudo-terminal
// (python3's pty module, no shell) and through a pipe. Masked values never reach either.
jest.setTimeout(180_000);

const CLI = path.join(projectRoot, 'dist', 'cli', 'index.js');
const PTY = 'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI through a pipe, or on a terminal (then stdout holds both streams). */
function cli(args: string[], how: 'pipe' | 'tty' = 'pipe'): Promise<Ran> {
  const [file, argv] =
    how === 'tty'
      ? ['python3', ['-c', PTY, bundleNode(), CLI, ...args]]
      : [bundleNode(), [CLI, ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      // A terminal ends its lines with \r\n.
      resolve({ code, stdout: how === 'tty' ? stdout.replace(/\r\n/g, '\n') : stdout, stderr });
    });
  });
}

let work: string;
let key: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cli-terminal-'));
  await new Promise((resolve, reject) =>
    execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'key')], (e) =>
      e ? reject(e) : resolve(undefined),
    ),
  );
  key = await fs.readFile(path.join(work, 'key'), 'utf8');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Every line of a secret that the runner would mask (4 characters or more). */
function secretParts(secret: string): string[] {
  return [secret, ...secret.split('\n')].map((part) => part.trim()).filter((p) => p.length >= 4);
}

describe.each(['tty', 'pipe'] as const)('masked values, through a %s', (how) => {
  test('deploy-fleet --ssh-key "$(cat key)": no line of the key, no ::add-mask::', async () => {
    const publicKey = (await fs.readFile(path.join(work, 'key.pub'), 'utf8')).split(' ');
    const ran = await cli(
      [
        'deploy-fleet',
        ...['--host', '127.0.0.1:1', '--ssh-key', key, '--image', '10.0.0.1:5000/team/app:1'],
        ...['--known-hosts', `[127.0.0.1]:1 ${publicKey[0]} ${publicKey[1]}`],
      ],
      how,
    );
    const all = ran.stdout + ran.stderr;
    expect(ran.code).toBe(1);
    expect(all).toContain('error: SSH connection to core@[127.0.0.1]:1 failed after 4 attempts');
    expect(all).toContain('==> Connect to core@127.0.0.1:1');
    expect(all).not.toMatch(/::(add-mask|group|endgroup|error)/);
    for (const part of secretParts(key)) expect(all).not.toContain(part);
    expect(all).not.toContain('outputs:');
  });

  describe('import-image --registry-password', () => {
    let registry: TestRegistry;
    let root: string;
    beforeAll(async () => {
      registry = await startRegistry();
      root = path.join(work, `root-${how}`);
      await makeAppRoot(root);
    });
    afterAll(async () => {
      await registry?.stop();
    });

    test('pushes; the password is nowhere, the outputs are shown', async () => {
      const password = `pw-${how}-Zq8rT5vX`;
      const ran = await cli(
        [
          'import-image',
          ...['--root', root, '--image', `${registry.address}/cli/${how}`, '--insecure', 'true'],
          ...['--registry-username', 'ci', '--registry-password', password],
        ],
        how,
      );
      const all = ran.stdout + ran.stderr;
      expect(ran.code).toBe(0);
      expect(all).not.toContain(password);
      expect(all).not.toContain('::add-mask::');
      expect(ran.stdout).toMatch(
        /\nimport-image outputs:\n {2}image: \S+\/cli\/\w+\n {2}digest: sha256:[0-9a-f]{64}/,
      );
    });
  });
});

describe('help, version and mistakes', () => {
  test.each([['-h'], ['--help'], ['help']])('%s prints the usage, exit 0', async (flag) => {
    const ran = await cli([flag]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^usage: arch-core <action>/);
    expect(ran.stdout).toContain('actions: build-package, deploy-fleet, import-image');
  });

  test('no arguments: the usage on stderr, exit 1', async () => {
    const ran = await cli([]);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^usage: arch-core/);
  });

  test('--version names the CLI and every action', async () => {
    const ran = await cli(['--version']);
    expect(ran.code).toBe(0);
    const version = async (dir: string) =>
      (
        JSON.parse(
          await fs.readFile(path.join(projectRoot, 'actions', dir, 'package.json'), 'utf8'),
        ) as {
          version: string;
        }
      ).version;
    expect(ran.stdout.split('\n')[0]).toBe(`arch-core ${await version('cli')}`);
    expect(ran.stdout).toContain(`  make-iso ${await version('make-iso')}\n`);
  });

  test.each([
    ['make-iso', '--help'],
    ['help', 'make-iso'],
    ['make-iso', '-h'],
  ])('%s %s marks the required inputs from action.yml', async (...args) => {
    const ran = await cli(args);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('  --master-address (required)\n');
    expect(ran.stdout).toContain('  --fleet-sha256 (required)\n');
    expect(ran.stdout).toContain('  --role (default: "both")\n');
    expect(ran.stdout).not.toContain('--private-interface (required)');
  });

  test('an unknown action: did you mean, exit 1', async () => {
    const ran = await cli(['buld-package', '--path', '.']);
    expect(ran.code).toBe(1);
    expect(ran.stderr.split('\n')[0]).toBe(
      'arch-core: no action "buld-package"; did you mean "build-package"?',
    );
  });

  test('an unknown input: did you mean, exit 1, nothing run', async () => {
    const ran = await cli(['make-iso', '--master-adress', '10.0.0.1']);
    expect(ran.code).toBe(1);
    expect(ran.stderr.trim()).toBe(
      'arch-core: no input --master-adress; did you mean "--master-address"?',
    );
    expect(ran.stdout).toBe('');
  });

  test('an input given twice is an error', async () => {
    const ran = await cli(['make-iso', '--role', 'master', '--role=slave']);
    expect(ran.code).toBe(1);
    expect(ran.stderr.trim()).toBe('arch-core: --role is given twice; give it once.');
  });

  test("a failed run exits with the action's code and shows no outputs block", async () => {
    const ran = await cli(['make-iso', '--master-address', '10.0.0.1']);
    expect(ran.code).toBe(1);
    expect(ran.stdout + ran.stderr).toContain('error: Input "ssh-authorized-keys": is required');
    expect(ran.stdout).not.toContain('outputs:');
    expect(ran.stderr).toContain('arch-core: make-iso failed (exit 1).');
  });

  test('a successful run exits 0 with its outputs', async () => {
    const ran = await cli([
      'make-iso',
      ...['--ssh-authorized-keys', publicKeyLine('ssh-ed25519'), '--master-address', '10.0.0.1'],
      ...['--fleet-sha256', 'a'.repeat(64), '--output', path.join(work, 'cluster')],
    ]);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`  master-iso: ${path.join(work, 'cluster')}`);
  });
});
