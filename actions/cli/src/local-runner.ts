import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * Runs a bundled action the way the GitHub runner does: inputs as INPUT_<NAME> variables with
 * the defaults of its action.yml filled in, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and
 * RUNNER_TEMP. Used by the `arch-core` command and by the tests that drive the bundles.
 */
export interface ActionMetadata {
  name: string;
  inputs: Record<string, { description?: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description?: string }>;
  runs: { using: string; main: string; post?: string };
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
  /** Stream the action's log to this process's stdout instead of capturing it only. */
  echo?: boolean;
  /** The node binary to run the bundle with (default: the one running this code). */
  node?: string;
}

export interface LocalRunResult {
  code: number;
  /** What the action printed (stdout and stderr together). */
  log: string;
  outputs: Record<string, string>;
  summary: string;
}

export async function runActionLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const metadata = await readActionMetadata(path.join(options.actionDir, 'action.yml'));
  const unknown = Object.keys(options.inputs).filter((name) => !(name in metadata.inputs));
  if (unknown.length > 0) {
    throw new Error(`${metadata.name} has no input ${unknown.map((n) => `"${n}"`).join(', ')}.`);
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'arch-core-run-'));
  try {
    const outputFile = path.join(work, 'output');
    const summaryFile = path.join(work, 'summary');
    await fs.writeFile(outputFile, '');
    await fs.writeFile(summaryFile, '');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      // Outputs may live under RUNNER_TEMP, so it must outlive this run.
      RUNNER_TEMP:
        options.env?.RUNNER_TEMP ??
        process.env.RUNNER_TEMP ??
        path.join(os.tmpdir(), 'arch-core-runner-temp'),
    };
    await fs.mkdir(env.RUNNER_TEMP as string, { recursive: true });
    for (const key of Object.keys(env)) if (key.startsWith('INPUT_')) delete env[key];
    for (const [name, spec] of Object.entries(metadata.inputs)) {
      env[inputVariable(name)] = options.inputs[name] ?? spec.default ?? '';
    }
    const bundle = options.bundle ?? path.resolve(options.actionDir, metadata.runs.main);
    const { code, log } = await new Promise<{ code: number; log: string }>((resolve, reject) => {
      const child = spawn(options.node ?? process.execPath, [bundle], {
        env,
        cwd: options.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      const collect = (chunk: Buffer) => {
        chunks.push(chunk);
        if (options.echo) process.stdout.write(chunk);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.on('error', reject);
      child.on('close', (exitCode) =>
        resolve({ code: exitCode ?? 1, log: Buffer.concat(chunks).toString() }),
      );
    });
    return {
      code,
      log,
      outputs: parseOutputFile(await fs.readFile(outputFile, 'utf8')),
      summary: await fs.readFile(summaryFile, 'utf8'),
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
