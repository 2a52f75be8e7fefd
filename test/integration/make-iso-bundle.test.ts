import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AuditResult } from '../../actions/make-iso/src/audit.js';
import { bundleNode, errorLines, projectRoot, runBundle } from '../helpers/bundle.js';
import { exampleInputs, publicKeyLine, SAMPLES } from '../helpers/make-iso-fixtures.js';

/**
 * dist/make-iso driven the way the runner drives it (INPUT_*, GITHUB_OUTPUT, job summary), with
 * the real xorriso / genisoimage, and the ISOs read back with isoinfo, blkid and xorriso.
 * No test reaches the network: the image base URL points at a closed loopback port, so the
 * version lookup only warns.
 */

jest.setTimeout(120_000);

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-bundle-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const offline = { ARCH_CORE_FLATCAR_BASE_URL: 'http://127.0.0.1:9/{channel}/current' };
const good = {
  'ssh-authorized-keys': publicKeyLine('ssh-ed25519'),
  'master-address': '10.0.0.1',
  'fleet-sha256': 'e'.repeat(64),
};

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...offline,
    RUNNER_TEMP: path.join(work, 'runner-temp'),
    SOURCE_DATE_EPOCH: '1764000000',
    ...extra,
  };
}

function readBack(
  iso: string,
  dir: string,
): { info: string; userData: Buffer; listing: string; label: string } {
  const info = execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' });
  const listing = execFileSync('isoinfo', ['-R', '-f', '-i', iso], { encoding: 'utf8' });
  const out = path.join(dir, `user_data-${path.basename(iso)}`);
  execFileSync(
    'xorriso',
    ['-osirrox', 'on', '-indev', iso, '-extract', '/openstack/latest/user_data', out],
    {
      stdio: 'ignore',
    },
  );
  const label = execFileSync('blkid', ['-p', '-s', 'LABEL', '-o', 'value', iso], {
    encoding: 'utf8',
  }).trim();
  return { info, userData: fs.readFileSync(out), listing, label };
}

test('the example inputs: cloud-configs equal the samples, ISOs are config-drives holding them', async () => {
  const output = path.join(work, 'example');
  const { code, log, outputs, summary } = await runBundle(
    'make-iso',
    { ...exampleInputs(), output },
    env(),
  );
  expect(errorLines(log)).toEqual([]);
  expect(code).toBe(0);
  for (const role of ['master', 'slave']) {
    const config = outputs[`${role}-cloud-config`] as string;
    expect(config).toBe(path.join(output, `${role}.cloud-config.yml`));
    expect(
      fs
        .readFileSync(config)
        .equals(fs.readFileSync(path.join(SAMPLES, `${role}.cloud-config.yml`))),
    ).toBe(true);
    const iso = outputs[`${role}-iso`] as string;
    const back = readBack(iso, work);
    expect(back.info).toMatch(/^Volume id: config-2$/m);
    expect(back.info).toMatch(/Rock Ridge signatures version/);
    expect(back.info).toMatch(/Joliet with UCS level/);
    expect(back.label).toBe('config-2');
    expect(back.listing.split('\n')).toContain('/openstack/latest/user_data');
    expect(back.userData.equals(fs.readFileSync(config))).toBe(true);
  }
  const audit = JSON.parse(outputs.audit as string) as Record<string, AuditResult>;
  expect(Object.keys(audit)).toEqual(['master', 'slave']);
  for (const result of Object.values(audit)) {
    expect(result.passed).toBe(true);
    expect(result.points).toHaveLength(10);
  }
  expect(outputs['vmware-image-url']).toBe(
    'http://127.0.0.1:9/stable/current/flatcar_production_vmware_ova.ova',
  );
  expect(outputs['vmware-image-version']).toBe('');
  expect(log).toContain('::warning::The Flatcar stable version could not be read');
  expect(summary).toContain('Lock-down audit');
  expect(summary).toContain('master.iso');
  expect(fs.readdirSync(output).sort()).toEqual([
    'make-iso.sha256',
    'master.cloud-config.yml',
    'master.iso',
    'slave.cloud-config.yml',
    'slave.iso',
  ]);
  execFileSync('sha256sum', ['--check', '--strict', '--quiet', 'make-iso.sha256'], { cwd: output });
});

test('two builds of the same inputs give byte-identical ISOs', async () => {
  const runs = await Promise.all(
    ['one', 'two'].map((name) =>
      runBundle(
        'make-iso',
        { ...good, role: 'slave', format: 'config-drive', output: path.join(work, name) },
        env(),
      ),
    ),
  );
  for (const run of runs) expect(run.code).toBe(0);
  const [first, second] = runs.map((run) => fs.readFileSync(run.outputs['slave-iso'] as string));
  expect(first?.length).toBeGreaterThan(0);
  expect(first?.equals(second as Buffer)).toBe(true);
  expect(runs[0]?.outputs['master-iso']).toBeUndefined();

  // The comparison can fail: another SOURCE_DATE_EPOCH gives other bytes.
  const later = await runBundle(
    'make-iso',
    { ...good, role: 'slave', format: 'config-drive', output: path.join(work, 'three') },
    env({ SOURCE_DATE_EPOCH: '1764000001' }),
  );
  expect(later.code).toBe(0);
  expect(fs.readFileSync(later.outputs['slave-iso'] as string).equals(first as Buffer)).toBe(false);
});

test('format user-data writes the cloud-configs and no ISO (and removes a stale one)', async () => {
  const output = path.join(work, 'user-data');
  fs.mkdirSync(output);
  fs.writeFileSync(path.join(output, 'master.iso'), 'an ISO of an earlier run');
  const { code, outputs } = await runBundle(
    'make-iso',
    { ...good, format: 'user-data', output },
    env(),
  );
  expect(code).toBe(0);
  expect(outputs['master-iso']).toBeUndefined();
  expect(fs.readdirSync(output).sort()).toEqual([
    'make-iso.sha256',
    'master.cloud-config.yml',
    'slave.cloud-config.yml',
  ]);
});

describe('the ISO tool', () => {
  function pathWith(tools: string[]): string {
    const bin = fs.mkdtempSync(path.join(work, 'bin-'));
    for (const tool of tools) fs.symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
    return bin;
  }

  test('genisoimage is the fallback when xorriso is missing', async () => {
    const output = path.join(work, 'genisoimage');
    const { code, log, outputs } = await runBundle(
      'make-iso',
      { ...good, role: 'master', output },
      env({ PATH: pathWith(['genisoimage']) }),
    );
    expect(errorLines(log)).toEqual([]);
    expect(code).toBe(0);
    expect(log).toContain('genisoimage makes the ISOs, which are not byte-for-byte reproducible');
    const back = readBack(outputs['master-iso'] as string, work);
    expect(back.label).toBe('config-2');
    expect(back.userData.equals(fs.readFileSync(outputs['master-cloud-config'] as string))).toBe(
      true,
    );
  });

  test('with neither, one error names both and nothing is written', async () => {
    const output = path.join(work, 'no-tool');
    const { code, log } = await runBundle(
      'make-iso',
      { ...good, output },
      env({ PATH: pathWith([]) }),
    );
    expect(code).toBe(1);
    const errors = errorLines(log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('Neither xorriso nor genisoimage is installed');
    expect(fs.existsSync(output)).toBe(false);
  });
});

describe('bad inputs: one clear line, exit 1, nothing written', () => {
  test.each<[string, Record<string, string>, string]>([
    ['no keys', { 'ssh-authorized-keys': '' }, 'Input "ssh-authorized-keys": is required'],
    [
      'a malformed key',
      { 'ssh-authorized-keys': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB' },
      'Input "ssh-authorized-keys": line 1:',
    ],
    [
      'a key of the wrong type',
      { 'ssh-authorized-keys': `ssh-rsa ${publicKeyLine('ssh-ed25519').split(' ')[1]}` },
      'says ssh-rsa but its data is a ssh-ed25519 key',
    ],
    ['ssh-port 22', { 'ssh-port': '22' }, 'Input "ssh-port": 22 is the well-known default port'],
    [
      'two services on one port',
      { 'registry-port': '2222' },
      'Input "registry-port": 2222 is already the SSH port (ssh-port)',
    ],
    [
      'role slave without master-address',
      { role: 'slave', 'master-address': '' },
      'Input "master-address": is required for role slave',
    ],
    [
      'an invalid address',
      { 'master-address': '10.0.0' },
      'Input "master-address": "10.0.0" is not an IPv4 address',
    ],
    [
      'an unknown channel',
      { channel: 'nightly' },
      'Input "channel": "nightly" is not one of stable, beta, alpha, lts.',
    ],
  ])('%s', async (_label, override, message) => {
    const output = path.join(work, `bad-${Math.random().toString(36).slice(2)}`);
    const { code, log, outputs } = await runBundle(
      'make-iso',
      { ...good, output, ...override },
      env(),
    );
    expect(code).toBe(1);
    const errors = errorLines(log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
    expect(log).not.toMatch(/\n\s+at /); // no stack trace
    expect(outputs).toEqual({});
    expect(fs.existsSync(output)).toBe(false);
  });

  test('an output that is a file is refused before anything is made, the file kept', async () => {
    const output = path.join(work, 'output-is-a-file');
    fs.writeFileSync(output, 'mine');
    const { code, log } = await runBundle('make-iso', { ...good, output }, env());
    expect(code).toBe(1);
    expect(errorLines(log)).toEqual([
      `Input "output": "${output}" is a file; give the path of a directory to write.`,
    ]);
    expect(fs.readFileSync(output, 'utf8')).toBe('mine');
    expect(fs.readdirSync(work).filter((name) => name.startsWith('.output-is-a-file'))).toEqual([]);
  });
});

test('the audit command passes the samples and fails a weakened copy, naming the point', () => {
  const cli = path.join(projectRoot, 'dist', 'cli', 'index.js');
  const passed = execFileSync(
    bundleNode(),
    [
      cli,
      'audit-cloud-config',
      path.join(SAMPLES, 'master.cloud-config.yml'),
      path.join(SAMPLES, 'slave.cloud-config.yml'),
    ],
    { encoding: 'utf8' },
  );
  expect(passed.match(/^ {2}pass +\d+\. /gm)).toHaveLength(20);
  const weak = path.join(work, 'weak.cloud-config.yml');
  fs.writeFileSync(
    weak,
    fs
      .readFileSync(path.join(SAMPLES, 'slave.cloud-config.yml'), 'utf8')
      .replace('PermitRootLogin no', 'PermitRootLogin yes'),
  );
  let status = 0;
  let stdout = '';
  try {
    execFileSync(bundleNode(), [cli, 'audit-cloud-config', weak], { encoding: 'utf8' });
  } catch (error) {
    status = (error as { status: number }).status;
    stdout = (error as { stdout: string }).stdout;
  }
  expect(status).toBe(1);
  expect(stdout).toMatch(/^ {2}FAIL {2}2\. .*PermitRootLogin is yes/m);
  expect(stdout.match(/^ {2}FAIL/gm)).toHaveLength(1);
});
