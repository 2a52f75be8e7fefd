import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * Runs a bundled action the way the GitHub runner does: inputs as INPUT_<NAME> variables with
 * the defaults of its action.yml filled in, GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY
 * files, and RUNNER_TEMP; then its post step (runs.post) with what the main step saved as
 * STATE_<name>, also after a failure or a cancel. Used by the `arch-core` command and by the
 * tests that drive the bundles.
 */
export interface ActionMetadata {
  name: string;
  inputs: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description?: string }>;
  runs: { using: string; main: string; post?: string; 'post-if'?: string };
}

export async function readActionMetadata(actionYml: string): Promise<ActionMetadata> {
  const metadata = parseYaml(await fs.readFile(actionYml, 'utf8')) as ActionMetadata;
  metadata.inputs ??= {};
  metadata.outputs ??= {};
  return metadata;
}

/** The runner's name for an input's variable: spaces become `_`, the rest upper-cased. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/** Parses a GITHUB_OUTPUT file (`name=value` and `name<<DELIMITER` forms). */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      while (++index < lines.length && lines[index] !== delimiter) value.push(lines[index] ?? '');
      outputs[name] = value.join('\n');
    } else if (line.includes('=')) {
      outputs[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return outputs;
}

export interface LocalRunOptions {
  /** The action's folder (holding action.yml). */
  actionDir: string;
  /** The bundle to run (default: the action.yml's runs.main). */
  bundle?: string;
  inputs: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Told the log of both steps as it comes, by stream (the CLI's RunnerLog shows it masked);
   * told `flush()` at the end of each step.
   */
  echo?: LogSink;
  /** Told each piece of the main step's log as it comes. */
  onOutput?: (text: string) => void;
  /**
   * Cancels the run as the runner cancels a job: the main step's process gets SIGINT (SIGTERM
   * when that is the abort reason), SIGTERM 7.5 s later, SIGKILL 2.5 s after that; then
   * the post step runs.
   */
  cancel?: AbortSignal;
  /** The node binary to run the bundle with (default: the one running this code). */
  node?: string;
}

export interface LogSink {
  push(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  flush(): void;
}

export interface StepResult {
  code: number;
  /** What the step printed (stdout and stderr together). */
  log: string;
}

export interface LocalRunResult extends StepResult {
  outputs: Record<string, string>;
  summary: string;
  /** The post step (runs.post), run after the main step whatever its result. */
  post?: StepResult;
  /** The signal the main step was cancelled with. */
  cancelledWith?: NodeJS.Signals;
}

/** The runner's grace times on cancel: SIGINT, then SIGTERM after 7.5 s, then a kill. */
const SIGTERM_AFTER_MS = 7_500;
const SIGKILL_AFTER_MS = 10_000;

export async function runActionLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const metadata = await readActionMetadata(path.join(options.actionDir, 'action.yml'));
  const unknown = Object.keys(options.inputs).filter((name) => !(name in metadata.inputs));
  if (unknown.length > 0) {
    throw new Error(`${metadata.name} has no input ${unknown.map((n) => `"${n}"`).join(', ')}.`);
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'arch-core-run-'));
  try {
    const files = {
      output: path.join(work, 'output'),
      state: path.join(work, 'state'),
      summary: path.join(work, 'summary'),
    };
    for (const file of Object.values(files)) await fs.writeFile(file, '');
    const env = await stepEnv(metadata, options, files);
    const main = await runStep(bundleOf(metadata, options, 'main'), env, options, true);
    const result: LocalRunResult = {
      code: main.code,
      log: main.log,
      cancelledWith: main.cancelledWith,
      outputs: parseOutputFile(await fs.readFile(files.output, 'utf8')),
      summary: await fs.readFile(files.summary, 'utf8'),
    };
    if (metadata.runs.post && postRuns(metadata, main.code)) {
      // The post step sees what the main step saved as STATE_<name>, and its own GITHUB_STATE.
      const state = parseOutputFile(await fs.readFile(files.state, 'utf8'));
      await fs.writeFile(files.state, '');
      for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
      result.post = await runStep(bundleOf(metadata, options, 'post'), env, options);
    }
    return result;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The environment of both steps: inputs with their defaults, the runner's files. */
async function stepEnv(
  metadata: ActionMetadata,
  options: LocalRunOptions,
  files: { output: string; state: string; summary: string },
): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    // Outputs may live under RUNNER_TEMP, so it must outlive this run.
    RUNNER_TEMP:
      options.env?.RUNNER_TEMP ??
      process.env.RUNNER_TEMP ??
      path.join(os.tmpdir(), 'arch-core-runner-temp'),
  };
  await fs.mkdir(env.RUNNER_TEMP as string, { recursive: true });
  for (const key of Object.keys(env)) {
    if (key.startsWith('INPUT_') || key.startsWith('STATE_')) delete env[key];
  }
  for (const [name, spec] of Object.entries(metadata.inputs)) {
    env[inputVariable(name)] = options.inputs[name] ?? spec.default ?? '';
  }
  return env;
}

/** The bundle of a step: options.bundle stands for runs.main, and for runs.post when the same. */
function bundleOf(metadata: ActionMetadata, options: LocalRunOptions, step: 'main' | 'post') {
  const file = step === 'main' ? metadata.runs.main : (metadata.runs.post as string);
  if (options.bundle && file === metadata.runs.main) return options.bundle;
  return path.resolve(options.actionDir, file);
}

/** `post-if` as the runner reads it: always() (the default) or success(). */
function postRuns(metadata: ActionMetadata, mainCode: number): boolean {
  const condition = (metadata.runs['post-if'] ?? 'always()').trim();
  if (condition === 'always()') return true;
  if (condition === 'success()') return mainCode === 0;
  throw new Error(`${metadata.name}: post-if "${condition}" is not supported here.`);
}

/** Runs one step's bundle; the main step can be cancelled and watched (options). */
function runStep(
  bundle: string,
  env: NodeJS.ProcessEnv,
  options: LocalRunOptions,
  isMain = false,
): Promise<StepResult & { cancelledWith?: NodeJS.Signals }> {
  const cancel = isMain ? options.cancel : undefined;
  const onOutput = isMain ? options.onOutput : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(options.node ?? process.execPath, [bundle], {
      env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      chunks.push(chunk);
      options.echo?.push(chunk, stream);
      onOutput?.(chunk.toString());
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    let cancelledWith: NodeJS.Signals | undefined;
    const timers: NodeJS.Timeout[] = [];
    const onCancel = () => {
      cancelledWith = cancel?.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
      child.kill(cancelledWith);
      timers.push(setTimeout(() => child.kill('SIGTERM'), SIGTERM_AFTER_MS));
      timers.push(setTimeout(() => child.kill('SIGKILL'), SIGKILL_AFTER_MS));
    };
    if (cancel?.aborted) onCancel();
    else cancel?.addEventListener('abort', onCancel, { once: true });
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      for (const timer of timers) clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
      options.echo?.flush();
      const code = exitCode ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1);
      resolve({ code, log: Buffer.concat(chunks).toString(), cancelledWith });
    });
  });
}
