import * as core from '@actions/core';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';

/**
 * Entering an i686 build root as Arch Linux 32's devtools do: proc, dev (recursive bind, made a
 * slave so nothing propagates back) and sys mounted inside it for the build, then `setarch i686
 * chroot`. Whatever is mounted here is unmounted afterwards, also when the build fails or the
 * job is cancelled.
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

/** Checks that `root` is a build root: makepkg, bash and the compressor for `pkgext` in it. */
export async function checkBuildRoot(root: string, pkgext: string): Promise<void> {
  const compressor = pkgext.endsWith('.zst') ? 'usr/bin/zstd' : 'usr/bin/xz';
  for (const tool of ['usr/bin/makepkg', 'usr/bin/bash', 'usr/bin/env', compressor]) {
    try {
      await fs.access(path.join(root, tool));
    } catch {
      throw new InputError(
        'build-root',
        `${root} is not a build root: it has no /${tool} (make one with makepkg and a toolchain in it).`,
      );
    }
  }
}

/** The CARCH of the root's makepkg.conf (its native architecture for packages). */
export async function buildRootCarch(root: string): Promise<string | undefined> {
  const conf = await fs.readFile(path.join(root, 'etc/makepkg.conf'), 'utf8').catch(() => '');
  return /^CARCH=["']?([\w-]+)["']?/m.exec(conf)?.[1];
}

function unmountSync(points: readonly string[]): void {
  for (const point of [...points].reverse()) {
    const result = spawnSync('umount', ['-R', point], { stdio: 'ignore' });
    if (result.status !== 0) spawnSync('umount', ['-R', '-l', point], { stdio: 'ignore' });
  }
}

/** Runs `work` with proc, dev and sys mounted in `root`; always unmounts what it mounted. */
export async function withBuildRootMounts<T>(root: string, work: () => Promise<T>): Promise<T> {
  const mounted: string[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    unmountSync(mounted);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
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
        if (afterwards) await execQuiet('mount', [...afterwards, point]);
        core.info(`mounted ${point}`);
      };
      await mount(path.join(root, 'proc'), ['-t', 'proc', 'proc']);
      await mount(path.join(root, 'dev'), ['--rbind', '/dev'], ['--make-rslave']);
      await mount(path.join(root, 'sys'), ['-t', 'sysfs', 'sys']);
    });
    return await work();
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await core.group(`Build root: unmounting`, async () => {
      for (const point of [...mounted].reverse()) {
        const result = await execQuiet('umount', ['-R', point], { allowFailure: true });
        if (result.code !== 0) {
          core.warning(`umount -R ${point} failed (${result.stderr.trim()}); detaching it lazily.`);
          await execQuiet('umount', ['-R', '-l', point], { allowFailure: true });
        }
      }
      const left = (await mountsUnder(root)).filter((point) =>
        mounted.some((ours) => point === ours || point.startsWith(`${ours}/`)),
      );
      if (left.length > 0) core.warning(`Still mounted in the build root: ${left.join(', ')}`);
      else core.info('nothing the build mounted is left mounted');
    });
  }
}
