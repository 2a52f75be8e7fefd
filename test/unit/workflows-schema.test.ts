import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../helpers/bundle.js';
import {
  ACTIONS,
  EXAMPLE_WORKFLOWS,
  actionYmlPath,
  projectActionSchemaErrors,
  publishedActionSchemaErrors,
  readActionYml,
  workflowSchemaErrors,
} from '../helpers/workflows-lint.js';

// Every workflow against the published workflow schema, every action.yml against the published
// action schema (node24 read as node20) and the project's own (test/schemas/action.schema.json).

const projectWorkflowsDir = path.join(projectRoot, '.github', 'workflows');
const projectWorkflows = fs.existsSync(projectWorkflowsDir)
  ? fs.readdirSync(projectWorkflowsDir).filter((name) => /\.ya?ml$/.test(name))
  : [];

describe('workflows against the published workflow schema', () => {
  test.each(EXAMPLE_WORKFLOWS.map((name) => [`workflows-examples/${name}`]))('%s', (file) => {
    const source = fs.readFileSync(path.join(projectRoot, file), 'utf8');
    expect(workflowSchemaErrors(source)).toEqual([]);
  });

  test.each(['ci.yml', 'release.yml'])('the project has .github/workflows/%s', (name) => {
    expect(projectWorkflows).toContain(name);
  });

  test('every .github/workflows file', () => {
    const errors = projectWorkflows.flatMap((name) =>
      workflowSchemaErrors(fs.readFileSync(path.join(projectWorkflowsDir, name), 'utf8')).map(
        (error) => `${name}${error}`,
      ),
    );
    expect(errors).toEqual([]);
  });

  // The check can fail: the same validator rejects what GitHub rejects.
  test.each([
    [
      'an unknown job key',
      'on: push\njobs:\n  a:\n    runs-onn: x\n    steps:\n      - run: "true"\n',
    ],
    [
      'a step with both uses and run',
      'on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n        run: echo\n',
    ],
    [
      'a step with neither uses nor run',
      'on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: x\n',
    ],
    [
      'an unknown trigger',
      'on: pushed\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: "true"\n',
    ],
    ['YAML that does not parse', 'on: push\njobs:\n  a: [\n'],
    [
      'an attestations permission that is no level',
      'on: push\njobs:\n  a:\n    runs-on: x\n    permissions:\n      attestations: writ\n' +
        '    steps:\n      - run: "true"\n',
    ],
    [
      'a choice input with no options',
      'on:\n  workflow_dispatch:\n    inputs:\n      e:\n        type: choice\n        description: d\n' +
        'jobs:\n  a:\n    runs-on: x\n    steps:\n      - run: "true"\n',
    ],
  ])('rejects %s', (_what, source) => {
    expect(workflowSchemaErrors(source).length).toBeGreaterThan(0);
  });

  test('takes the attestations permission the published schema does not know yet', () => {
    const source =
      'on: push\njobs:\n  a:\n    runs-on: x\n    permissions:\n      id-token: write\n' +
      '      attestations: write\n    steps:\n      - run: "true"\n';
    expect(workflowSchemaErrors(source)).toEqual([]);
  });
});

describe.each(ACTIONS.map((action) => [action]))('actions/%s/action.yml', (action) => {
  test('exists', () => {
    expect(fs.existsSync(actionYmlPath(action))).toBe(true);
  });

  test('passes the project schema (node24, descriptions, branding, author)', () => {
    const document: unknown = parseYaml(fs.readFileSync(actionYmlPath(action), 'utf8'));
    expect(projectActionSchemaErrors(document)).toEqual([]);
  });

  test('passes the published action schema', () => {
    expect(publishedActionSchemaErrors(fs.readFileSync(actionYmlPath(action), 'utf8'))).toEqual([]);
  });

  test('runs its committed bundle', () => {
    const { runs } = readActionYml(action);
    expect(runs.main).toBe(`../../dist/${action}/index.js`);
    expect(fs.existsSync(path.resolve(path.dirname(actionYmlPath(action)), runs.main))).toBe(true);
  });

  test('its README names every input and output; its CHANGELOG has its version', () => {
    const metadata = readActionYml(action);
    const folder = path.dirname(actionYmlPath(action));
    const readme = fs.readFileSync(path.join(folder, 'README.md'), 'utf8');
    const missing = [...Object.keys(metadata.inputs), ...Object.keys(metadata.outputs)].filter(
      (name) => !readme.includes(`\`${name}\``),
    );
    expect(missing).toEqual([]);
    const { version } = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(fs.readFileSync(path.join(folder, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`, 'm'),
    );
  });
});

describe('the project action schema', () => {
  const good = {
    name: 'x',
    description: 'Does one thing well.',
    author: 'arch-core',
    branding: { icon: 'package', color: 'blue' },
    inputs: { path: { description: 'Where.', required: false, default: '.' } },
    outputs: { version: { description: 'What.' } },
    runs: { using: 'node24', main: '../../dist/x/index.js' },
  };

  test('accepts a complete node24 action', () => {
    expect(projectActionSchemaErrors(good)).toEqual([]);
  });

  test('the published schema rejects node24 (why the project keeps its own)', () => {
    const source = JSON.stringify(good);
    expect(publishedActionSchemaErrors(source, false).join('\n')).toMatch(/\/runs\/using/);
    expect(publishedActionSchemaErrors(source)).toEqual([]); // node24 read as node20
  });

  test.each([
    ['an input without a description', { inputs: { path: { required: false } } }],
    ['an output without a description', { outputs: { version: {} } }],
    ['a numeric default', { inputs: { n: { description: 'N.', required: false, default: 3 } } }],
    [
      'a required input with a default',
      { inputs: { n: { description: 'N.', required: true, default: 'x' } } },
    ],
    ['node20', { runs: { using: 'node20', main: 'dist/index.js' } }],
    ['no branding', { branding: undefined }],
    ['an unknown icon', { branding: { icon: 'rocket-ship', color: 'blue' } }],
    ['an unknown color', { branding: { icon: 'package', color: 'pink' } }],
    ['another author', { author: 'someone' }],
    [
      'an input named in camelCase',
      { inputs: { buildRoot: { description: 'B.', required: false } } },
    ],
    ['an unknown top-level key', { version: '1' }],
  ])('rejects %s', (_what, change) => {
    const document: Record<string, unknown> = { ...good, ...change };
    for (const [key, value] of Object.entries(document))
      if (value === undefined) delete document[key];
    expect(projectActionSchemaErrors(document).length).toBeGreaterThan(0);
  });
});
