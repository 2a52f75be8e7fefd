import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { checkRootLibraries, resolveInRoot } from '../../core/src/root-libraries.js';
import { InputError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';
import { hold, release } from '../../core/src/post.js';

/**
 * Entering an i686 build root as Arch Linux 32's devtools do: proc, dev (recursive bind, made a
 * slave so nothing propagates back) and sys mounted inside it for the build, then `setarch i686
 * chroot`. Whatever is mounted here is unmounted afterwards, also when the build fails; after a
 * cancelled job the post step (post.ts) unmounts what the state says is still mounted.
 */

/** The mount points at or below `root`, deepest first (from /proc/self/mountinfo). */
export function mountPointsUnder(mountinfo: string, root: string): string[] {
  const points = mountinfo
    .split('\n')
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_m, octal: string) =>
        String.fromCharCode(parseInt(octal, 8)),
      ),
    )
    .filter((point) => point === root || point.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function mountsUnder(root: string): Promise<string[]> {
  return mountPointsUnder(await fs.readFile('/proc/self/mountinfo', 'utf8'), root);
}

/**
 * Checks that `root` is a build root: makepkg, bash, env and the compressor for `pkgext` in it, as
 * files that can run there (links followed inside the root; their interpreter and libraries in the
 * root too), so that a root lacking one is named as such, not as a failed chroot later.
 */
export async function checkBuildRoot(root: string, pkgext: string): Promise<void> {
  const compressor = pkgext.endsWith('.zst') ? 'usr/bin/zstd' : 'usr/bin/xz';
  const programs: string[] = [];
  for (const tool of ['usr/bin/makepkg', 'usr/bin/bash', 'usr/bin/env', compressor]) {
    const host = resolveInRoot(root, `/${tool}`);
    const stat = host === undefined ? undefined : await fs.stat(host).catch(() => undefined);
    if (host === undefined || !stat?.isFile() || (stat.mode & 0o111) === 0) {
      throw new InputError(
        'build-root',
        `${root} is not a build root: it has no /${tool} that can be run (make one with makepkg and a toolchain in it).`,
      );
    }
    programs.push(`/${path.relative(root, host)}`);
  }
  const miss = checkRootLibraries(root, programs).misses[0];
  if (miss !== undefined) {
    throw new InputError(
      'build-root',
      `${root} is not a build root: ${miss.object} cannot run there, it needs ${miss.kind === 'interpreter' ? 'the interpreter' : 'the library'} ${miss.missing}, which is not in the root.`,
    );
  }
}

/** The CARCH of the root's makepkg.conf (its native architecture for packages). */
export async function buildRootCarch(root: string): Promise<string | undefined> {
  const conf = await fs.readFile(path.join(root, 'etc/makepkg.conf'), 'utf8').catch(() => '');
  return /^CARCH=["']?([\w-]+)["']?/m.exec(conf)?.[1];
}

/** The state name under which the mounts made in a build root are recorded for the post step. */
export const MOUNTS_STATE = 'mounts';

/**
 * Unmounts `points` (deepest last made first), detaching lazily what is busy; returns what is
 * still mounted afterwards.
 */
export async function unmountAll(root: string, points: readonly string[]): Promise<string[]> {
  for (const point of [...points].reverse()) {
    const result = await execQuiet('umount', ['-R', point], { allowFailure: true });
    if (result.code === 0) {
      core.info(`unmounted ${point}`);
      continue;
    }
    core.warning(`umount -R ${point} failed (${result.stderr.trim()}); detaching it lazily.`);
    await execQuiet('umount', ['-R', '-l', point], { allowFailure: true });
  }
  return (await mountsUnder(root)).filter((point) =>
    points.some((ours) => point === ours || point.startsWith(`${ours}/`)),
  );
}

/** Runs `work` with proc, dev and sys mounted in `root`; always unmounts what it mounted. */
export async function withBuildRootMounts<T>(root: string, work: () => Promise<T>): Promise<T> {
  const mounted: string[] = [];
  try {
    await core.group(`Build root: mounting proc, dev and sys in ${root}`, async () => {
      const already = new Set(await mountsUnder(root));
      const mount = async (point: string, args: string[], afterwards?: string[]) => {
        if (already.has(point)) {
          core.info(`${point} is already a mount point; leaving it as it is.`);
          return;
        }
        await execQuiet('mount', [...args, point], { missingHint: 'install util-linux' });
        mounted.push(point);
        hold(MOUNTS_STATE, { root, points: mounted });
        if (afterwards) await execQuiet('mount', [...afterwards, point]);
        core.info(`mounted ${point}`);
      };
      await mount(path.join(root, 'proc'), ['-t', 'proc', 'proc']);
      await mount(path.join(root, 'dev'), ['--rbind', '/dev'], ['--make-rslave']);
      await mount(path.join(root, 'sys'), ['-t', 'sysfs', 'sys']);
    });
    return await work();
  } finally {
    await core.group(`Build root: unmounting`, async () => {
      const left = await unmountAll(root, mounted);
      if (left.length > 0) {
        hold(MOUNTS_STATE, { root, points: left });
        core.warning(`Still mounted in the build root: ${left.join(', ')}`);
      } else {
        release(MOUNTS_STATE);
        core.info('nothing the build mounted is left mounted');
      }
    });
  }
}
