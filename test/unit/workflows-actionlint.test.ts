import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../helpers/bundle.js';
import { EXAMPLE_WORKFLOWS, readWorkflow, runnerLabels } from '../helpers/workflows-lint.js';

// actionlint is not available here (neither a Debian package nor a project dependency), so
// this checks what it would: every runs-on label of the example workflows is one actionlint
// knows (the default labels a self-hosted runner gets; it also knows GitHub's hosted ones, which
// the examples do not use) or one its configuration, workflows-examples/actionlint.yaml, names.

/** The labels actionlint accepts for a self-hosted runner without configuration. */
const SELF_HOSTED_DEFAULTS = ['self-hosted', 'linux', 'macos', 'windows', 'x64', 'arm', 'arm64'];

const examples = path.join(projectRoot, 'workflows-examples');
const config = parseYaml(fs.readFileSync(path.join(examples, 'actionlint.yaml'), 'utf8')) as {
  'self-hosted-runner': { labels: string[] };
};
const usedLabels = [
  ...new Set(
    EXAMPLE_WORKFLOWS.flatMap((file) =>
      runnerLabels(readWorkflow(path.join(examples, file))).flat(),
    ),
  ),
];

test('every runs-on label of the examples is known to actionlint or named in actionlint.yaml', () => {
  const configured = config['self-hosted-runner'].labels;
  const unknown = usedLabels.filter(
    (label) => !SELF_HOSTED_DEFAULTS.includes(label.toLowerCase()) && !configured.includes(label),
  );
  expect(usedLabels).toContain('arch-core');
  expect(unknown).toEqual([]);
});

test('actionlint.yaml names no label the examples do not use', () => {
  expect(
    config['self-hosted-runner'].labels.filter((label) => !usedLabels.includes(label)),
  ).toEqual([]);
});
