import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { projectRoot } from '../../scripts/lib/project-root.js';
import { run as runCommand } from '../../scripts/lib/run.js';

/**
 * Real Mercurial and git repositories for the build-package tests, made from a directory of
 * files (the example app or a fixture), with a commit and optionally a tag.
 */

const FIXTURE_IDENTITY = {
  HGPLAIN: '1',
  HGUSER: 'arch-core test <test@example.invalid>',
  GIT_AUTHOR_NAME: 'arch-core test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'arch-core test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
};

/** scripts/lib's run() in `cwd`, with a fixed hg and git identity so commits work anywhere. */
export function run(command: string, args: string[], cwd?: string): string {
  return runCommand(command, args, { cwd, env: FIXTURE_IDENTITY });
}

export const EXAMPLE_APP = path.join(projectRoot, 'examples/hello');
export const FIXTURES = path.join(projectRoot, 'test/fixtures/build-package');

/** Copies `from` into `dir` (created), then `hg init`, add, commit and `hg tag` when asked. */
export async function hgRepo(from: string, dir: string, tag?: string): Promise<string> {
  await fs.cp(from, dir, { recursive: true });
  run('hg', ['init', '-q'], dir);
  run('hg', ['add', '-q'], dir);
  run('hg', ['commit', '-q', '-m', 'first'], dir);
  if (tag) run('hg', ['tag', tag], dir);
  return dir;
}

/** Copies `from` into `dir`, then `git init`, add, commit and a lightweight tag when asked. */
export async function gitRepo(from: string, dir: string, tag?: string): Promise<string> {
  await fs.cp(from, dir, { recursive: true });
  run('git', ['init', '-q', '-b', 'main'], dir);
  run('git', ['add', '-A'], dir);
  run('git', ['commit', '-q', '-m', 'first'], dir);
  if (tag) run('git', ['tag', tag], dir);
  return dir;
}

/** `pacman -Qip FILE` as field → value. */
export function pacmanInfo(file: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of run('pacman', ['-Qip', file]).split('\n')) {
    const match = /^([^:]+?)\s*: (.*)$/.exec(line);
    if (match) fields[match[1] as string] = (match[2] as string).trim();
  }
  return fields;
}

/** Every path under `dir` with its size and mtime: to show a checkout was left untouched. */
export async function snapshot(dir: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (current: string) => {
    for (const entry of await fs.readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const stat = await fs.lstat(full);
      entries.push(`${path.relative(dir, full)} ${stat.size} ${stat.mtimeMs} ${stat.uid}`);
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return entries.sort();
}

/** The package files (pacman's extensions) in `dir`; none when it does not exist. */
export async function packageFilesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => /\.pkg\.tar(\.\w+)?$/.test(name));
}
