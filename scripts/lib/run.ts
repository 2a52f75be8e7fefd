import { spawnSync } from 'node:child_process';

/** A command that could not start or exited non-zero; carries what it printed. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    /** False when the command could not be started at all. */
    readonly started: boolean,
    /** Its exit status (null when it did not start or a signal ended it). */
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface RunOptions {
  cwd?: string;
  /** Added to (or overriding) this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Let the command print to this process's stdout and stderr instead of capturing them. */
  inherit?: boolean;
}

/** Credentials in a URL never reach a message. */
export function redact(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//***@');
}

/**
 * Runs a command to its end and returns its stdout; throws CommandFailed (with the tail of its
 * stderr) when it cannot start or exits non-zero. The one exec wrapper of the tests and scripts.
 */
export function run(command: string, args: string[], options: RunOptions = {}): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    stdio: options.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const stdout = result.stdout ?? '';
  const stderr = result.stderr ?? '';
  if (result.error) {
    throw new CommandFailed(
      `${command} could not run: ${result.error.message}`,
      false,
      null,
      stdout,
      stderr,
    );
  }
  if (result.status !== 0) {
    const tail = stderr.trim().split('\n').slice(-5).join('\n');
    throw new CommandFailed(
      `${command} ${args.map(redact).join(' ')} failed (exit ${result.status}): ${redact(tail)}`,
      true,
      result.status,
      stdout,
      stderr,
    );
  }
  return stdout;
}
