import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditCloudConfig, formatAudit } from '../../make-iso/src/api.js';
import { messageOf } from '../../core/src/errors.js';
import { readActionMetadata, runActionLocally } from './local-runner.js';
import { RunnerLog } from './runner-log.js';

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
    'usage: arch-core <action> [--<input> <value>]... [--verbose]   (also --<input>=<value>)',
    '       arch-core <action> --help      the inputs (required ones marked) and outputs',
    '       arch-core audit-cloud-config [--allow-default-ports] FILE...',
    '       arch-core --version',
    `actions: ${actionNames().join(', ')}`,
    "--verbose also shows the action's debug lines.",
  ].join('\n');
}

function version(): string {
  const versionOf = (dir: string) =>
    (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string })
      .version;
  return [
    `arch-core ${versionOf(path.join(actionsDir, 'cli'))}`,
    ...actionNames().map((name) => `  ${name} ${versionOf(path.join(actionsDir, name))}`),
  ].join('\n');
}

/** The number of one-character edits from a to b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(
        Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** `; did you mean "x"?` for the nearest of `known` when it is close, else nothing. */
function didYouMean(word: string, known: string[], prefix = ''): string {
  const nearest = known
    .map((name) => ({ name, distance: editDistance(word, name) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const close = nearest && nearest.distance <= Math.max(2, Math.floor(word.length / 3));
  return close ? `; did you mean "${prefix}${nearest.name}"?` : '';
}

interface CommandLine {
  inputs: Record<string, string>;
  verbose: boolean;
  help: boolean;
}

/** The words after the action: `--name value` or `--name=value` for each input, once each. */
function parseCommandLine(args: string[], known: string[]): CommandLine {
  const line: CommandLine = { inputs: {}, verbose: false, help: false };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === '--verbose') line.verbose = true;
    else if (arg === '--help' || arg === '-h') line.help = true;
    else if (!arg.startsWith('--')) throw new Error(`"${arg}" is not an --input.`);
    else {
      const equals = arg.indexOf('=');
      const name = equals > 0 ? arg.slice(2, equals) : arg.slice(2);
      if (!known.includes(name)) {
        throw new Error(`no input --${name}${didYouMean(name, known, '--')}`);
      }
      if (name in line.inputs) throw new Error(`--${name} is given twice; give it once.`);
      const value = equals > 0 ? arg.slice(equals + 1) : args[++index];
      if (value === undefined) throw new Error(`--${name} needs a value.`);
      line.inputs[name] = value;
    }
  }
  return line;
}

async function describe(actionDir: string): Promise<string> {
  const metadata = await readActionMetadata(path.join(actionDir, 'action.yml'));
  const lines = [`${metadata.name}`, '', 'inputs:'];
  for (const [name, spec] of Object.entries(metadata.inputs)) {
    const hasDefault = spec.default !== undefined && spec.default !== '';
    const note = spec.required
      ? ' (required)'
      : hasDefault
        ? ` (default: ${JSON.stringify(spec.default)})`
        : '';
    lines.push(`  --${name}${note}`, `      ${(spec.description ?? '').trim().split('\n')[0]}`);
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
  if (action === undefined) {
    console.error(usage());
    return 1;
  }
  if (['--help', '-h', 'help'].includes(action) && rest.length === 0) {
    console.log(usage());
    return 0;
  }
  if (action === '--version') {
    console.log(version());
    return 0;
  }
  const named = action === 'help' ? (rest[0] as string) : action;
  if (!actionNames().includes(named)) {
    const known = [...actionNames(), 'audit-cloud-config'];
    console.error(`arch-core: no action "${named}"${didYouMean(named, known)}\n${usage()}`);
    return 1;
  }
  const actionDir = path.join(actionsDir, named);
  const metadata = await readActionMetadata(path.join(actionDir, 'action.yml'));
  const line = parseCommandLine(
    action === 'help' ? ['--help'] : rest,
    Object.keys(metadata.inputs),
  );
  if (line.help) {
    console.log(await describe(actionDir));
    return 0;
  }
  return runOnTerminal(named, actionDir, line);
}

/** Runs the action with its log shown as the runner shows it; the exit code is the action's. */
async function runOnTerminal(action: string, actionDir: string, line: CommandLine) {
  const log = new RunnerLog({
    verbose: line.verbose,
    write: (text, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(text),
  });
  const result = await runActionLocally({
    actionDir,
    bundle: path.join(projectRoot, 'dist', action, 'index.js'),
    inputs: line.inputs,
    echo: log,
    cancel: cancelOnSignals(),
  });
  if (result.cancelledWith) {
    console.error(`\narch-core: ${action} was cancelled (${result.cancelledWith}).`);
    return result.cancelledWith === 'SIGTERM' ? 143 : 130;
  }
  const code = result.code || (result.post?.code ?? 0);
  if (code !== 0) {
    console.error(`\narch-core: ${action} failed (exit ${code}).`);
    return code;
  }
  const shown = Object.entries(result.outputs).map(([name, value]) => {
    const text = log.mask(value);
    return `  ${name}:${text.includes('\n') ? `\n    ${text.split('\n').join('\n    ')}` : ` ${text}`}`;
  });
  if (shown.length > 0) console.log(`\n${action} outputs:\n${shown.join('\n')}`);
  return 0;
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
