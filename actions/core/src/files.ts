import * as core from './runner.js';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readFileSync, readdirSync, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from './errors.js';

/** Where an action may put temporary things: the runner's temp dir, else the system's. */
export function tempRoot(): string {
  return process.env.RUNNER_TEMP || os.tmpdir();
}

/** A new directory only its owner can enter (mode 0700), under `parent` (made if missing). */
export async function makePrivateTempDir(prefix: string, parent = tempRoot()): Promise<string> {
  await fs.mkdir(parent, { recursive: true });
  const dir = await fs.mkdtemp(path.join(parent, `${prefix}-`));
  await fs.chmod(dir, 0o700);
  return dir;
}

/** Runs `work` with a private temp dir that is removed afterwards, whatever happens. */
export async function withPrivateTempDir<T>(
  prefix: string,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await makePrivateTempDir(prefix);
  try {
    return await work(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * A sibling path for writing before a rename: same directory, so the rename is atomic. Hidden, and
 * named after the writer's pid, so that a later run can tell a killed run's leftovers
 * (removeLeftoverTemporaries) from a live run's work.
 */
export function temporarySibling(target: string): string {
  const suffix = `${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return path.join(path.dirname(target), `${temporaryPrefix(target)}${suffix}`);
}

function temporaryPrefix(target: string): string {
  return `.${path.basename(target)}.tmp-`;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet (a zombie, state Z) still answers
  // kill(0), but writes nothing any more: where no init reaps orphans, it stays so for good.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/**
 * Removes the temporary siblings of `target` that a killed run left (their writer's pid is gone);
 * a live run's are left alone. Says what it removed through `log`. Returns the paths removed.
 */
export async function removeLeftoverTemporaries(
  target: string,
  log: (message: string) => void,
): Promise<string[]> {
  const prefix = temporaryPrefix(target);
  const dir = path.dirname(target);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = name.startsWith(prefix)
      ? /^(\d+)\./.exec(name.slice(prefix.length))?.[1]
      : undefined;
    if (pid === undefined || processIsAlive(Number(pid))) continue;
    const leftover = path.join(dir, name);
    await fs.rm(leftover, { recursive: true, force: true });
    log(`Removed ${leftover}, left by an earlier run that was stopped (pid ${pid}).`);
    removed.push(leftover);
  }
  return removed;
}

/**
 * The one way an action publishes output: `produce` writes a temporary sibling of `target` (a
 * file or a directory), which is then renamed into place. An existing directory at `target` is
 * moved aside first and removed after, so a reader sees the old whole or the new whole, never a
 * mix. On failure the temporary is removed and `target` is untouched.
 */
export async function produceAtomically<T>(
  target: string,
  produce: (temporary: string) => Promise<T>,
): Promise<T> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  await removeLeftoverTemporaries(target, core.info);
  const temporary = temporarySibling(target);
  try {
    const result = await produce(temporary);
    await renameReplacing(temporary, target);
    return result;
  } catch (error) {
    await fs.rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

async function renameReplacing(temporary: string, target: string): Promise<void> {
  const old = await fs.lstat(target).catch(() => undefined);
  if (!old?.isDirectory()) {
    await fs.rename(temporary, target);
    return;
  }
  const aside = temporarySibling(target);
  await fs.rename(target, aside);
  try {
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rename(aside, target);
    throw error;
  }
  await fs.rm(aside, { recursive: true, force: true });
}

export interface FileSet {
  /** The names `produce` wrote into its staging directory, in order. */
  files: string[];
  /** Names of an earlier set to remove from the directory because this set has none of them. */
  obsolete?: string[];
}

/**
 * Replaces a set of files in `directory` as one unit that a reader can check: the files are
 * written in a private staging directory beside it (`.<name>.tmp-<pid>.*`, never inside it, and
 * removed by the next run when a killed run left it); then the set's checksum file (sha256sum
 * format, named `checksums`) is removed, each file renamed into place, and the checksum file
 * written last. A complete set is one whose checksum file exists and matches
 * (`sha256sum -c`); a run killed midway leaves no checksum file, never a false one.
 */
export async function replaceFileSet(
  directory: string,
  checksums: string,
  produce: (staging: string) => Promise<FileSet>,
): Promise<Record<string, string>> {
  await fs.mkdir(directory, { recursive: true });
  await removeLeftoverTemporaries(directory, core.info);
  const staging = temporarySibling(directory);
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    const set = await produce(staging);
    const lines: string[] = [];
    for (const name of set.files)
      lines.push(`${await sha256File(path.join(staging, name))}  ${name}\n`);
    await fs.rm(path.join(directory, checksums), { force: true });
    const placed: Record<string, string> = {};
    for (const name of set.files) {
      await fs.rename(path.join(staging, name), path.join(directory, name));
      placed[name] = path.join(directory, name);
    }
    for (const name of set.obsolete ?? []) await fs.rm(path.join(directory, name), { force: true });
    await produceAtomically(path.join(directory, checksums), (temporary) =>
      fs.writeFile(temporary, lines.join(''), { mode: 0o644 }),
    );
    return placed;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function exists(target: string): Promise<boolean> {
  try {
    await fs.lstat(target);
    return true;
  } catch {
    return false;
  }
}

/** The path's stat, or undefined when nothing is there (ENOTDIR: a file stands on the way). */
async function statOrUndefined(target: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/**
 * Refuses, before any work is done, an output path that the step could not write at its end: a
 * directory where a file is to be written, a file where a directory is, or a path under a file.
 * `input` names the input in the error.
 */
export async function checkOutputPath(
  input: string,
  target: string,
  kind: 'file' | 'directory',
): Promise<void> {
  const stat = await statOrUndefined(target);
  if (stat?.isDirectory() && kind === 'file') {
    throw new InputError(input, `"${target}" is a directory; give the path of a file to write.`);
  }
  if (stat && !stat.isDirectory() && kind === 'directory') {
    throw new InputError(input, `"${target}" is a file; give the path of a directory to write.`);
  }
  for (let parent = path.dirname(target); ; parent = path.dirname(parent)) {
    const parentStat = await statOrUndefined(parent);
    if (parentStat === undefined) continue;
    if (!parentStat.isDirectory()) {
      throw new InputError(input, `"${parent}" is a file, so "${target}" cannot be made in it.`);
    }
    return;
  }
}

/** True when `dir` is absent or an empty directory. */
export async function isAbsentOrEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Total bytes of the regular files under `dir` (hard links counted once). Synchronous on purpose:
 * one awaited lstat a file costs a thread-pool round trip each (0.2–0.4 s for a 4,400-file root),
 * the same calls made in a row take a few milliseconds.
 */
export function directorySize(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.isFile()) {
        const stat = lstatSync(full);
        const id = `${stat.dev}:${stat.ino}`;
        if (!seen.has(id)) {
          seen.add(id);
          total += stat.size;
        }
      }
    }
  };
  walk(dir);
  return total;
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
