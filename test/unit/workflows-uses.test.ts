import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { projectRoot } from '../helpers/bundle.js';
import {
  EXAMPLE_WORKFLOWS,
  actionYmlPath,
  archCoreUse,
  crossReferenceProblems,
  readActionYml,
  readWorkflow,
  runnerLabels,
  variablesAndSecrets,
  type ActionYml,
  type Workflow,
} from '../helpers/workflows-lint.js';

// Every `uses: arch-core/<action>@vN` in the example workflows names an action of this project,
// at its major version tag, with inputs it declares and every required input given; every
// `steps.X.outputs.Y` names an output the step's action declares. The action.yml files are read
// as they are in the tree, so a renamed input or output breaks this test, not a user's release.

const examples = path.join(projectRoot, 'workflows-examples');

function realAction(action: string): { metadata: ActionYml; version: string } | undefined {
  if (!fs.existsSync(actionYmlPath(action))) return undefined;
  const packageJson = path.join(projectRoot, 'actions', action, 'package.json');
  const { version } = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string };
  return { metadata: readActionYml(action), version };
}

function usesOf(workflow: Workflow): { job: string; action: string; ref: string }[] {
  return Object.entries(workflow.jobs).flatMap(([job, { steps }]) =>
    (steps ?? []).flatMap((step) => {
      const use = archCoreUse(step.uses);
      return use ? [{ job, ...use }] : [];
    }),
  );
}

describe.each(EXAMPLE_WORKFLOWS.map((name) => [name]))('workflows-examples/%s', (name) => {
  const workflow = readWorkflow(path.join(examples, name));

  test('every arch-core action it uses exists, with the inputs and outputs it names', () => {
    expect(usesOf(workflow).length).toBeGreaterThan(0);
    expect(crossReferenceProblems(workflow, realAction)).toEqual([]);
  });

  test('uses only the five actions, each at @v1', () => {
    for (const use of usesOf(workflow)) {
      expect(use.ref).toBe('v1');
      expect(fs.existsSync(path.join(projectRoot, 'actions', use.action, 'src'))).toBe(true);
    }
  });

  test('the README documents its runner labels, variables and secrets', () => {
    const readme = fs.readFileSync(path.join(examples, 'README.md'), 'utf8');
    const { vars, secrets } = variablesAndSecrets(workflow);
    const labels = [...new Set(runnerLabels(workflow).flat())];
    const undocumented = [...vars, ...secrets, ...labels].filter(
      (name) => !readme.includes(`\`${name}\``),
    );
    expect(undocumented).toEqual([]);
  });
});

describe('release.yml', () => {
  const workflow = readWorkflow(path.join(examples, 'release.yml'));
  const steps = (job: string) => workflow.jobs[job]?.steps ?? [];
  const using = (job: string, action: string) =>
    steps(job).filter((step) => archCoreUse(step.uses)?.action === action);

  test('runs on a pushed version tag, or by hand with the tag', () => {
    expect(workflow.on).toEqual({
      push: { tags: ['v*'] },
      workflow_dispatch: { inputs: { tag: expect.objectContaining({ required: true }) } },
    });
  });

  test('builds for i686 inside the build root and for x86_64, on the self-hosted x86_64 runner', () => {
    const [build] = using('build', 'build-package');
    expect(build?.with?.arch).toBe('${{ matrix.arch }}');
    expect(build?.with?.['build-root']).toBe('${{ matrix.build-root }}');
    const legs = workflow.jobs.build?.strategy?.matrix?.include ?? [];
    expect(legs.map((leg) => leg.arch)).toEqual(['i686', 'x86_64']);
    expect(legs[0]?.['build-root']).toContain('vars.I686_BUILD_ROOT');
    expect(legs[1]?.['build-root']).toBe('');
    expect(workflow.jobs.build?.['runs-on']).toEqual(['self-hosted', 'linux', 'x64', 'arch-core']);
    // No job container: JavaScript actions cannot run in a 32-bit one.
    expect(Object.values(workflow.jobs).every((job) => !('container' in job))).toBe(true);
  });

  test('chains the actions in order: package → root → image → staging deploy', () => {
    const order = Object.values(workflow.jobs)
      .flatMap((job) => job.steps ?? [])
      .map((step) => archCoreUse(step.uses)?.action)
      .filter((action): action is string => action !== undefined);
    expect(order.slice(0, 4)).toEqual([
      'build-package',
      'make-chroot',
      'import-image',
      'deploy-fleet',
    ]);
    const [image] = using('staging', 'import-image');
    expect(image?.with?.['ssh-tunnel']).toBe(true);
    // One index over both roots, each line naming the tarball make-chroot wrote for its arch.
    const [chroot] = using('build', 'make-chroot');
    expect(chroot?.with?.tarball).toBe('${{ runner.temp }}/image-root/root-${{ matrix.arch }}.tar');
    for (const job of ['staging', 'production']) {
      const [push] = using(job, 'import-image');
      expect(String(push?.with?.platforms).trim().split('\n')).toEqual([
        'linux/386=${{ runner.temp }}/image-root/root-i686.tar',
        'linux/amd64=${{ runner.temp }}/image-root/root-x86_64.tar',
      ]);
      expect(push?.with).not.toHaveProperty('tarball');
    }
    const [deploy] = using('staging', 'deploy-fleet');
    expect(deploy?.with?.image).toBe('${{ steps.image.outputs.image-ref }}');
  });

  test('the packages are kept with actions/upload-artifact, not the deprecated input', () => {
    const [build] = using('build', 'build-package');
    expect(build?.with).not.toHaveProperty('upload-artifact');
    const upload = steps('build').find((step) => step.uses?.startsWith('actions/upload-artifact@'));
    expect(String(upload?.with?.path).split('\n').filter(Boolean)).toEqual([
      `\${{ steps.${build?.id}.outputs.packages }}`,
      `\${{ steps.${build?.id}.outputs.srcinfo }}`,
    ]);
  });

  test('production waits for staging, sits behind its environment, and deploys the same digest', () => {
    const production = workflow.jobs.production;
    expect(production?.environment).toBe('production');
    expect(production?.needs).toContain('staging');
    expect(workflow.jobs.staging?.environment).toBe('staging');
    const [deploy] = using('production', 'deploy-fleet');
    expect(deploy?.with?.image).toMatch(/@\$\{\{ needs\.staging\.outputs\.digest \}\}$/);
    const guard = steps('production').find((step) => step.run?.includes('STAGING_DIGEST'));
    expect(guard?.env?.STAGING_DIGEST).toBe('${{ needs.staging.outputs.digest }}');
    expect(guard?.env?.PRODUCTION_DIGEST).toBe('${{ steps.image.outputs.digest }}');
    const order = steps('production').map((step) => step.id ?? step.run?.slice(0, 20));
    expect(order.indexOf('deploy')).toBeGreaterThan(steps('production').indexOf(guard!));
  });

  test('the update window is closed after a failure too', () => {
    for (const job of ['staging', 'production']) {
      const close = steps(job).find((step) => step.run?.includes('systemctl stop'));
      expect(close?.if).toBe('always()');
      expect(close?.run).toContain('arch-core-registry.service');
      expect(close?.run).toContain('arch-core-etcd.service');
    }
  });
});

describe('deploy.yml and cluster.yml', () => {
  test('deploy.yml: workflow_dispatch with environment (choice) and version, no build', () => {
    const workflow = readWorkflow(path.join(examples, 'deploy.yml'));
    const inputs = (workflow.on.workflow_dispatch as { inputs: Record<string, unknown> }).inputs;
    expect(inputs.environment).toMatchObject({
      type: 'choice',
      options: ['staging', 'production'],
    });
    expect(inputs.version).toMatchObject({ type: 'string', required: true });
    expect(usesOf(workflow).map((use) => use.action)).toEqual(['deploy-fleet']);
    expect(workflow.jobs.deploy?.environment).toBe('${{ inputs.environment }}');
  });

  test('cluster.yml: config-drive ISOs for staging, user data for production', () => {
    const workflow = readWorkflow(path.join(examples, 'cluster.yml'));
    expect(Object.keys(workflow.on)).toEqual(['workflow_dispatch']);
    const format = (job: string) =>
      workflow.jobs[job]?.steps?.find((step) => archCoreUse(step.uses)?.action === 'make-iso')?.with
        ?.format;
    expect(format('staging')).toBe('config-drive');
    expect(format('production')).toBe('user-data');
    const uploads = Object.values(workflow.jobs).flatMap((job) =>
      (job.steps ?? []).filter((step) => step.uses?.startsWith('actions/upload-artifact@')),
    );
    expect(uploads.length).toBeGreaterThanOrEqual(2);
  });
});

describe('the cross-reference check itself', () => {
  const metadata: ActionYml = {
    name: 'deploy-fleet',
    inputs: {
      host: { description: 'h', required: true },
      image: { description: 'i', required: true },
      timeout: { description: 't', required: false, default: '300' },
    },
    outputs: { machines: { description: 'm' } },
    runs: { using: 'node24', main: '../../dist/deploy-fleet/index.js' },
  };
  const lookup = (action: string) =>
    action === 'deploy-fleet' ? { metadata, version: '1.0.0' } : undefined;
  const workflowWith = (steps: unknown[], extra: Record<string, unknown> = {}): Workflow =>
    ({ on: { push: {} }, jobs: { a: { 'runs-on': 'x', steps, ...extra } } }) as Workflow;

  test('accepts a correct use', () => {
    const workflow = workflowWith([
      { id: 'd', uses: 'arch-core/deploy-fleet@v1', with: { host: 'h', image: 'i' } },
      { run: 'echo ${{ steps.d.outputs.machines }}' },
    ]);
    expect(crossReferenceProblems(workflow, lookup)).toEqual([]);
  });

  test.each([
    [
      'an action that does not exist',
      [{ uses: 'arch-core/make-coffee@v1' }],
      'not an arch-core action',
    ],
    [
      'the wrong major tag',
      [{ uses: 'arch-core/deploy-fleet@v2', with: { host: 'h', image: 'i' } }],
      'major version tag is v1',
    ],
    [
      'an undeclared input',
      [{ uses: 'arch-core/deploy-fleet@v1', with: { host: 'h', image: 'i', hostname: 'x' } }],
      'no input "hostname"',
    ],
    [
      'a missing required input',
      [{ uses: 'arch-core/deploy-fleet@v1', with: { host: 'h' } }],
      'required input "image"',
    ],
    [
      'an undeclared output',
      [
        { id: 'd', uses: 'arch-core/deploy-fleet@v1', with: { host: 'h', image: 'i' } },
        { run: 'echo ${{ steps.d.outputs.digest }}' },
      ],
      'no output "digest"',
    ],
    [
      'a step that comes later',
      [
        { run: 'echo ${{ steps.d.outputs.machines }}' },
        { id: 'd', uses: 'arch-core/deploy-fleet@v1', with: { host: 'h', image: 'i' } },
      ],
      'not an earlier step',
    ],
    ['an env that nothing sets', [{ run: 'echo ${{ env.APP }}' }], 'no env block sets "APP"'],
    ['an input the workflow lacks', [{ run: 'echo ${{ inputs.version }}' }], 'no input "version"'],
  ])('finds %s', (_what, steps, problem) => {
    const problems = crossReferenceProblems(workflowWith(steps), lookup);
    expect(problems.join('\n')).toContain(problem);
  });

  test('finds an output of a job that is not needed', () => {
    const workflow: Workflow = {
      on: { push: {} },
      jobs: {
        a: { 'runs-on': 'x', outputs: { d: 'x' }, steps: [{ run: 'true' }] },
        b: { 'runs-on': 'x', steps: [{ run: 'echo ${{ needs.a.outputs.d }}' }] },
      },
    };
    expect(crossReferenceProblems(workflow, lookup).join('\n')).toContain('does not need job a');
  });
});
