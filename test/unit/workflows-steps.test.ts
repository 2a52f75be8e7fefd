import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { projectRoot } from '../helpers/bundle.js';
import { readWorkflow, type Step } from '../helpers/workflows-lint.js';

// The shell steps of the workflows, run for real with bash: their `${{ }}` values come in
// through `env:` only (never spliced into the script), so the script runs as it is here.

function stepOf(file: string, job: string, matches: (step: Step) => boolean): Step {
  const step = readWorkflow(path.join(projectRoot, file)).jobs[job]?.steps?.find(matches);
  if (!step?.run) throw new Error(`${file}: no such run step in job ${job}`);
  return step;
}

function runStep(step: Step, env: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workflows-step-'));
  try {
    const output = path.join(dir, 'output');
    fs.writeFileSync(output, '');
    const result = spawnSync('bash', ['-e', '-c', step.run as string], {
      env: { PATH: process.env.PATH, GITHUB_OUTPUT: output, ...env },
      encoding: 'utf8',
    });
    return { code: result.status, stdout: result.stdout, outputs: fs.readFileSync(output, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('.github/workflows/release.yml', () => {
  const workflow = readWorkflow(path.join(projectRoot, '.github/workflows/release.yml'));
  const tagStep = stepOf('.github/workflows/release.yml', 'release', (s) => s.id === 'tag');

  test('runs on <action>-vX.Y.Z tags and calls npm run release', () => {
    expect(workflow.on).toEqual({ push: { tags: ['*-v[0-9]+.[0-9]+.[0-9]+'] } });
    const release = stepOf('.github/workflows/release.yml', 'release', (s) =>
      Boolean(s.run?.includes('npm run release')),
    );
    expect(release.run).toContain('npm run release -- "$ACTION" "$VERSION"');
    expect(release.run).not.toContain('--skip-tests');
  });

  test.each([
    ['make-iso-v1.2.0', 'make-iso', '1.2.0'],
    ['build-package-v10.0.3', 'build-package', '10.0.3'],
  ])('tag %s → %s %s', (tag, action, version) => {
    const result = runStep(tagStep, { TAG: tag });
    expect(result.code).toBe(0);
    expect(result.outputs).toBe(`action=${action}\nversion=${version}\n`);
  });

  test.each(['make-iso-v1.2', 'v1.2.0', 'make-iso-1.2.0', 'Make-iso-v1.2.0', 'x-v1.2.0;reboot'])(
    'tag %s is refused',
    (tag) => {
      const result = runStep(tagStep, { TAG: tag });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('is not <action>-vX.Y.Z');
      expect(result.outputs).toBe('');
    },
  );
});

describe('workflows-examples/deploy.yml: the version check', () => {
  const check = stepOf('workflows-examples/deploy.yml', 'deploy', (s) =>
    Boolean(s.run?.includes('VERSION')),
  );

  test.each(['1.2.r14.0a1b2c3d4e5f-1', 'latest', `sha256:${'0'.repeat(64)}`])(
    'accepts %s',
    (version) => {
      expect(runStep(check, { VERSION: version, APP_NAME: 'hello' }).code).toBe(0);
    },
  );

  test.each(['', '-1', 'a b', `sha256:${'0'.repeat(63)}`, '1.0$(id)', 'x'.repeat(129)])(
    'refuses %j',
    (version) => {
      const result = runStep(check, { VERSION: version, APP_NAME: 'hello' });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('::error::Input "version"');
    },
  );
});

describe('workflows-examples/release.yml: the production digest guard', () => {
  const guard = stepOf('workflows-examples/release.yml', 'production', (s) =>
    Boolean(s.run?.includes('STAGING_DIGEST')),
  );
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;

  test('passes the digest staging ran', () => {
    expect(runStep(guard, { STAGING_DIGEST: a, PRODUCTION_DIGEST: a }).code).toBe(0);
  });

  test.each([
    [a, b],
    ['', ''],
    [a, ''],
  ])('stops %j → %j', (staging, production) => {
    const result = runStep(guard, { STAGING_DIGEST: staging, PRODUCTION_DIGEST: production });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('is not the digest staging ran');
  });
});
