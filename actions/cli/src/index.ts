import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditCloudConfig, formatAudit } from '../../make-iso/src/api.js';
import { messageOf } from '../../core/src/errors.js';
import { readActionMetadata, runActionLocally } from './local-runner.js';

/**
 * `arch-core <action> --<input> value ...`: runs the action's bundle exactly as a runner does
 * (INPUT_* variables with the action.yml defaults, GITHUB_OUTPUT, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY, then its post step) and prints its outputs. The code that runs is the same bundle a workflow runs.
 */

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const actionsDir = path.join(projectRoot, 'actions');

function actionNames(): string[] {
  return fs
    .readdirSync(actionsDir)
    .filter((name) => fs.existsSync(path.join(actionsDir, name, 'action.yml')))
    .sort();
}

function usage(): string {
  return [
    'usage: arch-core <action> [--<input> <value>]...   (also --<input>=<value>)',
    '       arch-core <action> --help',
    '       arch-core audit-cloud-config [--allow-default-ports] FILE...',
    `actions: ${actionNames().join(', ')}`,
  ].join('\n');
}

function parseInputs(args: string[]): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (!arg.startsWith('--')) throw new Error(`"${arg}" is not an --input.`);
    const equals = arg.indexOf('=');
    if (equals > 0) {
      inputs[arg.slice(2, equals)] = arg.slice(equals + 1);
    } else {
      const value = args[++index];
      if (value === undefined) throw new Error(`${arg} needs a value.`);
      inputs[arg.slice(2)] = value;
    }
  }
  return inputs;
}

async function describe(actionDir: string): Promise<string> {
  const metadata = await readActionMetadata(path.join(actionDir, 'action.yml'));
  const lines = [`${metadata.name}`, '', 'inputs:'];
  for (const [name, spec] of Object.entries(metadata.inputs)) {
    const fallback =
      spec.default === undefined ? '' : ` (default: ${JSON.stringify(spec.default)})`;
    lines.push(`  --${name}${fallback}`, `      ${(spec.description ?? '').trim().split('\n')[0]}`);
  }
  lines.push('', 'outputs:', ...Object.keys(metadata.outputs).map((name) => `  ${name}`));
  return lines.join('\n');
}

/**
 * `arch-core audit-cloud-config FILE...`: the lock-down audit make-iso runs on what it writes
 * (the ten points and the schema), on anyone's cloud-config. Exit 1 when a point fails.
 */
function auditFiles(args: string[]): number {
  const allowDefaultPorts = args.includes('--allow-default-ports');
  const files = args.filter((arg) => arg !== '--allow-default-ports');
  if (files.length === 0 || files.some((file) => file.startsWith('-'))) {
    console.error('usage: arch-core audit-cloud-config [--allow-default-ports] FILE...');
    return 1;
  }
  let failed = false;
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      console.error(`arch-core: cannot read ${file}.`);
      failed = true;
      continue;
    }
    const result = auditCloudConfig(text, { allowDefaultPorts });
    console.log(formatAudit(result, file));
    failed ||= !result.passed;
  }
  return failed ? 1 : 0;
}

async function main(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === 'audit-cloud-config') return auditFiles(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage());
    return action === undefined ? 1 : 0;
  }
  if (!actionNames().includes(action)) {
    console.error(`arch-core: no action "${action}".\n${usage()}`);
    return 1;
  }
  const actionDir = path.join(actionsDir, action);
  if (rest.includes('--help')) {
    console.log(await describe(actionDir));
    return 0;
  }
  const result = await runActionLocally({
    actionDir,
    bundle: path.join(projectRoot, 'dist', action, 'index.js'),
    inputs: parseInputs(rest),
    echo: true,
    cancel: cancelOnSignals(),
  });
  if (result.cancelledWith) {
    console.error(`\narch-core: ${action} was cancelled (${result.cancelledWith}).`);
    return result.cancelledWith === 'SIGTERM' ? 143 : 130;
  }
  console.log(`\n${action} outputs:`);
  for (const [name, value] of Object.entries(result.outputs)) {
    const shown = value.includes('\n') ? `\n    ${value.split('\n').join('\n    ')}` : ` ${value}`;
    console.log(`  ${name}:${shown}`);
  }
  return result.code || (result.post?.code ?? 0);
}

/**
 * Ctrl-C (SIGINT) or SIGTERM cancels the run as the runner cancels a job: the signal goes on to
 * the main step, which stops; then the post step runs; then this command exits 130 / 143.
 * Signals after the first are ignored, so that the post step can finish.
 */
function cancelOnSignals(): AbortSignal {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) return;
      console.error(`\narch-core: ${signal}: cancelling; the post step runs next.`);
      controller.abort(signal);
    });
  }
  return controller.signal;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`arch-core: ${messageOf(error)}`);
    process.exit(1);
  },
);
