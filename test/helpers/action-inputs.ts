import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import type { RawInputs } from '../../actions/core/src/inputs.js';
import { projectRoot } from '../../scripts/lib/project-root.js';

/**
 * The raw inputs a runner would hand an action: every default of its action.yml, then `given`
 * (the `with:` of a step). For unit tests of the pure `parseInputs(raw)` of each action.
 */
export function actionInputs(action: string, given: Record<string, string> = {}): RawInputs {
  const file = path.join(projectRoot, 'actions', action, 'action.yml');
  const metadata = parse(readFileSync(file, 'utf8')) as {
    inputs?: Record<string, { default?: unknown }>;
  };
  const raw: Record<string, string> = {};
  for (const [name, input] of Object.entries(metadata.inputs ?? {})) {
    if (input.default !== undefined) raw[name] = String(input.default);
  }
  return { ...raw, ...given };
}
