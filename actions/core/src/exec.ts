import * as core from './runner.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { UserError } from './errors.js';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's standard input. */
  input?: string | Buffer;
  /** Log title; the command runs inside a log group with it (default: the command line). */
  group?: string;
  /** Do not echo the command's output to the log (it is still captured). */
  silent?: boolean;
  /** Resolve instead of throwing when the command exits non-zero. */
  allowFailure?: boolean;
  /** What to say when the command is not installed, e.g. "install the Debian package makepkg". */
  missingHint?: string;
  /** How many lines of output a failure message carries (default 20). */
  tailLines?: number;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order they came. */
  output: string;
}

/** A command that ran and failed; a UserError since it is usually the user's input that failed. */
export class ExecError extends UserError {
  override name = 'ExecError';
  constructor(
    message: string,
    readonly result: ExecResult,
  ) {
    super(message);
  }
}

/** The last `count` non-empty lines of `text`. */
export function tailOf(text: string, count: number): string {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n');
}

function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map(quoteForLog).join(' ');
}

/**
 * Runs a command from an argument array (never through a shell), in its own log group, and
 * returns what it printed. A non-zero exit throws an ExecError carrying the tail of its output.
 */
export async function exec(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const line = commandLine(command, args);
  const title = options.group ?? line;
  return core.group(title, async () => {
    if (options.group) core.info(`[command]${line}`);
    return execQuiet(command, args, options);
  });
}

/** The commands running now, for signalRunningCommands. */
const running = new Set<ChildProcess>();

/** The pids of `pid`'s descendants, from /proc (the actions run on Linux). */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the second field after the ")" that ends the command's name.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended meanwhile.
    }
  }
  const found: number[] = [];
  for (let pending = [pid]; pending.length > 0;) {
    const next = children.get(pending.pop() as number) ?? [];
    found.push(...next);
    pending.push(...next);
  }
  return found;
}

/**
 * Passes `signal` on to every command running now and to everything they started (a cancelled
 * step: runuser ignores SIGINT, and bash runs its trap only after its foreground command ends,
 * so the whole tree gets it, as a terminal's Ctrl-C would give it); resolves once the commands
 * exited, or after `graceMs`.
 */
export async function signalRunningCommands(
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  const children = [...running];
  const exited = children.map(
    (child) => new Promise<void>((resolve) => child.once('close', () => resolve())),
  );
  for (const child of children) {
    if (child.pid === undefined) continue;
    for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  await Promise.race([Promise.all(exited), grace]);
  clearTimeout(timer);
}

/** Like exec, without opening a log group (for use inside a group of the caller's). */
export function execQuiet(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    running.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const output: Buffer[] = [];
    const collect = (sink: Buffer[], echo: NodeJS.WriteStream) => (chunk: Buffer) => {
      sink.push(chunk);
      output.push(chunk);
      if (!options.silent) echo.write(chunk);
    };
    child.stdout.on('data', collect(stdout, process.stdout));
    child.stderr.on('data', collect(stderr, process.stdout));
    child.stdin.on('error', () => undefined); // a command that does not read its input
    child.stdin.end(options.input ?? '');
    child.on('error', (error: NodeJS.ErrnoException) => {
      running.delete(child);
      if (error.code === 'ENOENT') {
        const hint = options.missingHint ? `: ${options.missingHint}` : '';
        reject(new UserError(`The command "${command}" is not installed${hint}.`));
      } else {
        reject(error);
      }
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      const result: ExecResult = {
        code: code ?? 128,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        output: Buffer.concat(output).toString(),
      };
      if (result.code === 0 || options.allowFailure) {
        resolve(result);
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${result.code}`;
      const tail = tailOf(
        result.stderr.trim() ? result.stderr : result.output,
        options.tailLines ?? 20,
      );
      reject(
        new ExecError(`${commandLine(command, args)} ${how}${tail ? `:\n${tail}` : '.'}`, result),
      );
    });
  });
}
