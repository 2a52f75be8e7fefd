import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../scripts/lib/project-root.js';

/**
 * Checks for the workflows users copy (workflows-examples/) and the project's own
 * (.github/workflows/), and for every action.yml: the published schemas (through
 * @action-validator/core, the WASM build of action-validator, which bundles SchemaStore's
 * github-workflow.json and github-action.json), the project's own action schema
 * (test/schemas/action.schema.json, which knows `runs.using: node24`), and cross-references
 * between a workflow and the actions it uses.
 */

/** The five actions the workflows chain; each is released to its own repository. */
export const ACTIONS = [
  'build-package',
  'make-chroot',
  'import-image',
  'make-iso',
  'deploy-fleet',
] as const;

export const EXAMPLE_WORKFLOWS = ['release.yml', 'deploy.yml', 'cluster.yml'] as const;

export interface ValidatorError {
  code: string;
  title: string;
  detail?: string;
  path?: string;
  states?: { errors: ValidatorError[] }[];
}

interface ActionValidator {
  validateWorkflow(source: string): { errors: ValidatorError[] };
  validateAction(source: string): { errors: ValidatorError[] };
}

// A CommonJS package that loads its .wasm with require(): load it the CommonJS way.
const validator = createRequire(import.meta.url)('@action-validator/core') as ActionValidator;

/** One line per leaf error, `path: title (detail)`, the nested oneOf branches flattened. */
export function flattenErrors(errors: ValidatorError[]): string[] {
  return errors.flatMap((error) => {
    const own = `${error.path ?? ''}: ${error.title}${error.detail ? ` (${error.detail})` : ''}`;
    const nested = (error.states ?? []).flatMap((state) => flattenErrors(state.errors));
    return nested.length > 0 ? nested : [own];
  });
}

const PERMISSION_LEVELS = ['read', 'write', 'none'];

type WorkflowDocument = { permissions?: unknown; jobs?: Record<string, { permissions?: unknown }> };

function workflowMapping(source: string): WorkflowDocument | undefined {
  try {
    const value: unknown = parseYaml(source);
    return typeof value === 'object' && value !== null ? (value as WorkflowDocument) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Errors of a workflow file's text against the published workflow schema. That schema predates
 * the `attestations` permission (actions/attest-build-provenance needs it): it is checked here
 * (read, write or none) and taken out before the published schema checks everything else.
 */
export function workflowSchemaErrors(source: string): string[] {
  const document = workflowMapping(source);
  // Not YAML, or not a mapping: the published schema's checker says so itself.
  if (!document) return flattenErrors(validator.validateWorkflow(source).errors);
  const own: string[] = [];
  const blocks: Array<[string, { permissions?: unknown }]> = [
    ['', document],
    ...Object.entries(document.jobs ?? {})
      .filter(([, job]) => typeof job === 'object' && job !== null)
      .map(([name, job]): [string, { permissions?: unknown }] => [`/jobs/${name}`, job]),
  ];
  for (const [where, block] of blocks) {
    const permissions = block.permissions as Record<string, unknown> | undefined;
    if (
      typeof permissions !== 'object' ||
      permissions === null ||
      !('attestations' in permissions)
    ) {
      continue;
    }
    if (!PERMISSION_LEVELS.includes(permissions.attestations as string)) {
      own.push(`${where}/permissions/attestations: not one of ${PERMISSION_LEVELS.join(', ')}`);
    }
    delete permissions.attestations;
  }
  return [...own, ...flattenErrors(validator.validateWorkflow(JSON.stringify(document)).errors)];
}

/**
 * Errors of an action.yml against the published action schema. That schema predates node24
 * (it rejects every node24 action), so `using: node24` is checked by the project's schema and
 * read here as node20, the nearest value the published schema knows, to check everything else.
 */
export function publishedActionSchemaErrors(source: string, readNode24AsNode20 = true): string[] {
  const document = parseYaml(source) as { runs?: { using?: string } };
  if (readNode24AsNode20 && document.runs?.using === 'node24') document.runs.using = 'node20';
  return flattenErrors(validator.validateAction(JSON.stringify(document)).errors);
}

const actionSchema = JSON.parse(
  fs.readFileSync(path.join(projectRoot, 'test', 'schemas', 'action.schema.json'), 'utf8'),
) as object;
const ajv = new Ajv({ allErrors: true, strict: true });
const validateActionMetadata = ajv.compile(actionSchema);

/** Errors of an action.yml document against test/schemas/action.schema.json. */
export function projectActionSchemaErrors(document: unknown): string[] {
  if (validateActionMetadata(document)) return [];
  return (validateActionMetadata.errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'}: ${error.message ?? error.keyword}${
        error.keyword === 'additionalProperties'
          ? ` (${String((error.params as { additionalProperty?: string }).additionalProperty)})`
          : ''
      }`,
  );
}

export interface ActionYml {
  name: string;
  inputs: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description?: string }>;
  runs: { using: string; main: string };
}

export function actionYmlPath(action: string): string {
  return path.join(projectRoot, 'actions', action, 'action.yml');
}

export function readActionYml(action: string): ActionYml {
  const metadata = parseYaml(fs.readFileSync(actionYmlPath(action), 'utf8')) as ActionYml;
  metadata.inputs ??= {};
  metadata.outputs ??= {};
  return metadata;
}

// ---- Workflows: the parts these checks read ----

export interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
}

export interface Job {
  'runs-on'?: string | string[];
  environment?: string | { name: string };
  needs?: string | string[];
  outputs?: Record<string, string>;
  env?: Record<string, unknown>;
  /** A matrix's `include` legs, each a map of `matrix.<key>` values. */
  strategy?: { matrix?: { include?: Array<Record<string, string>> } };
  steps?: Step[];
}

export interface Workflow {
  name?: string;
  on: Record<string, unknown>;
  env?: Record<string, unknown>;
  jobs: Record<string, Job>;
}

export function readWorkflow(file: string): Workflow {
  return parseYaml(fs.readFileSync(file, 'utf8')) as Workflow;
}

/** Every `${{ ... }}` expression in a value (strings, arrays and maps walked). */
export function expressionsIn(value: unknown): string[] {
  if (typeof value === 'string') {
    return [...value.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((match) => (match[1] ?? '').trim());
  }
  if (Array.isArray(value)) return value.flatMap(expressionsIn);
  if (value !== null && typeof value === 'object') {
    return Object.values(value).flatMap(expressionsIn);
  }
  return [];
}

/** `arch-core/<action>@<ref>` → {action, ref}; other uses → undefined. */
export function archCoreUse(uses: string | undefined): { action: string; ref: string } | undefined {
  const match = /^arch-core\/([a-z0-9-]+)@(.+)$/.exec(uses ?? '');
  return match ? { action: match[1] as string, ref: match[2] as string } : undefined;
}

type ReadAction = (action: string) => { metadata: ActionYml; version: string } | undefined;

/** What an expression in one job may refer to; problems found are pushed to `problems`. */
interface JobScope {
  workflow: Workflow;
  jobId: string;
  needs: Set<string>;
  envNames: Set<string>;
  dispatchInputs: Set<string>;
  /** Step id → its action's metadata (undefined for a step that is not an arch-core action). */
  earlier: Map<string, ActionYml | undefined>;
  problems: string[];
}

function checkExpressions(
  scope: JobScope,
  where: string,
  value: unknown,
  stepEnv: Set<string>,
): void {
  const { jobId, problems } = scope;
  for (const expression of expressionsIn(value)) {
    for (const [, id, output] of expression.matchAll(/\bsteps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
      if (!scope.earlier.has(id as string)) {
        problems.push(`${where}: steps.${id} is not an earlier step of job ${jobId}.`);
      } else {
        const metadata = scope.earlier.get(id as string);
        if (metadata && !((output as string) in metadata.outputs)) {
          problems.push(`${where}: ${metadata.name} has no output "${output}".`);
        }
      }
    }
    for (const [, need, output] of expression.matchAll(/\bneeds\.([\w-]+)\.outputs\.([\w-]+)/g)) {
      if (!scope.needs.has(need as string)) {
        problems.push(`${where}: job ${jobId} does not need job ${need}.`);
      } else if (!((output as string) in (scope.workflow.jobs[need as string]?.outputs ?? {}))) {
        problems.push(`${where}: job ${need} has no output "${output}".`);
      }
    }
    for (const [, name] of expression.matchAll(/\binputs\.([\w-]+)/g)) {
      if (!scope.dispatchInputs.has(name as string)) {
        problems.push(`${where}: the workflow declares no input "${name}".`);
      }
    }
    for (const [, name] of expression.matchAll(/\benv\.([\w-]+)/g)) {
      if (!scope.envNames.has(name as string) && !stepEnv.has(name as string)) {
        problems.push(`${where}: no env block sets "${name}".`);
      }
    }
  }
}

/** Checks a step's `uses: arch-core/...` (major tag, inputs); returns the action's metadata. */
function checkArchCoreUse(
  scope: JobScope,
  where: string,
  step: Step,
  readAction: ReadAction,
): ActionYml | undefined {
  const use = archCoreUse(step.uses);
  if (!use) return undefined;
  const { problems } = scope;
  const found = readAction(use.action);
  if (!found) {
    problems.push(`${where}: uses arch-core/${use.action}, which is not an arch-core action.`);
    return undefined;
  }
  const { metadata } = found;
  const major = `v${found.version.split('.')[0]}`;
  if (use.ref !== major) {
    problems.push(
      `${where}: uses arch-core/${use.action}@${use.ref}; its major version tag is ${major}.`,
    );
  }
  const given = Object.keys(step.with ?? {});
  for (const name of given) {
    if (!(name in metadata.inputs)) {
      problems.push(`${where}: ${use.action} has no input "${name}".`);
    }
  }
  for (const [name, spec] of Object.entries(metadata.inputs)) {
    if (spec.required === true && spec.default === undefined && !given.includes(name)) {
      problems.push(`${where}: ${use.action}'s required input "${name}" is not given.`);
    }
  }
  return metadata;
}

/**
 * The problems of one workflow's cross-references, as sentences: arch-core actions that do not
 * exist, a ref that is not the action's major version tag, inputs the action does not declare,
 * required inputs not given, `steps.X.outputs.Y` of a step that is not earlier in the job or
 * whose action has no output Y, `needs.J.outputs.Y` of a job not needed or without output Y,
 * `inputs.X` that the workflow_dispatch does not declare, `env.X` that no env block sets.
 * `readAction` returns an action's metadata, or undefined when it does not exist.
 */
export function crossReferenceProblems(workflow: Workflow, readAction: ReadAction): string[] {
  const problems: string[] = [];
  const dispatch = workflow.on.workflow_dispatch as
    { inputs?: Record<string, unknown> } | null | undefined;
  const dispatchInputs = new Set(Object.keys(dispatch?.inputs ?? {}));
  for (const [jobId, job] of Object.entries(workflow.jobs)) {
    const scope: JobScope = {
      workflow,
      jobId,
      needs: new Set(typeof job.needs === 'string' ? [job.needs] : (job.needs ?? [])),
      envNames: new Set([...Object.keys(workflow.env ?? {}), ...Object.keys(job.env ?? {})]),
      dispatchInputs,
      earlier: new Map(),
      problems,
    };
    for (const [index, step] of (job.steps ?? []).entries()) {
      const where = `${jobId}.steps[${index}]${step.id ? ` (${step.id})` : ''}`;
      const stepEnv = new Set(Object.keys(step.env ?? {}));
      checkExpressions(scope, where, { with: step.with, if: step.if, run: step.run }, stepEnv);
      checkExpressions(scope, where, step.env, new Set());
      const metadata = checkArchCoreUse(scope, where, step, readAction);
      if (step.id) scope.earlier.set(step.id, metadata);
    }
    for (const [name, value] of Object.entries(job.outputs ?? {})) {
      checkExpressions(scope, `${jobId}.outputs.${name}`, value, new Set());
    }
  }
  return problems;
}

export function variablesAndSecrets(workflow: Workflow): { vars: string[]; secrets: string[] } {
  const expressions = expressionsIn(workflow);
  const names = (kind: string) =>
    [
      ...new Set(
        expressions.flatMap((e) =>
          [...e.matchAll(new RegExp(`\\b${kind}\\.([A-Za-z_][A-Za-z0-9_]*)`, 'g'))].map(
            (m) => m[1] as string,
          ),
        ),
      ),
    ].sort();
  return { vars: names('vars'), secrets: names('secrets') };
}

/** The label sets of every job's runs-on. */
export function runnerLabels(workflow: Workflow): string[][] {
  return Object.values(workflow.jobs).map((job) =>
    typeof job['runs-on'] === 'string' ? [job['runs-on']] : (job['runs-on'] ?? []),
  );
}
