import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { projectRoot } from '../helpers/bundle.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { readWorkflow, type Step } from '../helpers/workflows-lint.js';

// The update-window steps of workflows-examples/release.yml, run for real: their bash script,
// with the env the workflow gives it, against a real OpenSSH server on loopback (the project's
// sshd helper). On the "master", `sudo` is a stand-in on the SSH user's PATH that records its
// arguments — systemd is not PID 1 here, so the units themselves cannot run.

jest.setTimeout(120_000);

let sshd: Sshd;
let record = '';
let tmp = '';

const workflow = readWorkflow(path.join(projectRoot, 'workflows-examples', 'release.yml'));

function windowStep(job: string, verb: 'start' | 'stop'): Step {
  const step = workflow.jobs[job]?.steps?.find((s) => s.run?.includes(`systemctl ${verb}`));
  if (!step?.run) throw new Error(`release.yml ${job}: no step running systemctl ${verb}`);
  return step;
}

function runStep(step: Step, env: Record<string, string>) {
  const result = spawnSync('bash', ['-e', '-c', step.run as string], {
    env: { PATH: process.env.PATH, HOME: tmp, TMPDIR: tmp, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

function envOf(step: Step, overrides: Record<string, string> = {}): Record<string, string> {
  // The workflow's own env names, with the values a runner would put there.
  const names = Object.keys(step.env ?? {}).sort();
  expect(names).toEqual(['KNOWN_HOSTS', 'MASTER_HOST', 'SSH_KEY', 'SSH_PORT', 'SSH_USER']);
  expect(step.env?.SSH_USER).toBe('core');
  return {
    SSH_KEY: sshd.privateKey,
    KNOWN_HOSTS: sshd.knownHosts,
    MASTER_HOST: sshd.host,
    SSH_PORT: String(sshd.port),
    SSH_USER: sshd.user,
    ...overrides,
  };
}

beforeAll(async () => {
  sshd = await startSshd();
  record = path.join(sshd.home, 'sudo.log');
  fs.writeFileSync(
    path.join(sshd.binDir, 'sudo'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${record}'\n`,
    { mode: 0o755 },
  );
  tmp = fs.mkdtempSync(path.join(sshd.dir, 'runner-temp-'));
});

afterAll(async () => {
  await sshd?.stop();
});

const recorded = () => (fs.existsSync(record) ? fs.readFileSync(record, 'utf8') : '');

describe.each(['staging', 'production'])('release.yml, job %s', (job) => {
  test('opens the window: starts the registry on the master over SSH', () => {
    fs.rmSync(record, { force: true });
    const step = windowStep(job, 'start');
    const result = runStep(step, envOf(step));
    expect(result.output).not.toContain('PRIVATE KEY');
    expect(result.code).toBe(0);
    expect(recorded()).toBe('systemctl start arch-core-registry.service\n');
    expect(fs.readdirSync(tmp)).toEqual([]); // the key file's directory is gone
  });

  test('closes the window: stops the registry and etcd', () => {
    fs.rmSync(record, { force: true });
    const step = windowStep(job, 'stop');
    expect(step.if).toBe('always()');
    const result = runStep(step, envOf(step));
    expect(result.code).toBe(0);
    expect(recorded()).toBe('systemctl stop arch-core-registry.service arch-core-etcd.service\n');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  test('refuses a master whose host key is not the known one', async () => {
    fs.rmSync(record, { force: true });
    const other = await sshd.makeKeyPair('ed25519');
    const wrong = `[${sshd.host}]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`;
    const step = windowStep(job, 'start');
    const result = runStep(step, envOf(step, { KNOWN_HOSTS: wrong }));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(
      /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/,
    );
    expect(recorded()).toBe('');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  test('refuses a key the master does not accept, without a prompt', async () => {
    fs.rmSync(record, { force: true });
    const other = await sshd.makeKeyPair('ed25519');
    const step = windowStep(job, 'start');
    const result = runStep(step, envOf(step, { SSH_KEY: other.privateKey }));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Permission denied');
    expect(recorded()).toBe('');
  });
});
