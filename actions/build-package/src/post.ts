import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import { UserError } from '../../core/src/errors.js';
import { exists } from '../../core/src/files.js';
import { removeGnupgHome } from '../../core/src/gpg.js';
import { held } from '../../core/src/post.js';
import { MOUNTS_STATE, unmountAll } from './buildroot.js';
import { SIGNING_HOME_STATE } from './signing.js';

/** The state name of the build directory (the copy of the checkout, pkgdest, srcdest, home). */
export const BUILD_COPY_STATE = 'build-copy';

/**
 * The post step: after a cancelled or failed run, unmounts what the build mounted in the build
 * root and removes the build directory and the signing key's GnuPG home; after a clean run the
 * main step released them all and there is nothing to do. Fails naming exactly what it could
 * not clean.
 */
export async function post(): Promise<void> {
  const mounts = held<{ root: string; points: string[] }>(MOUNTS_STATE);
  const copy = held<string>(BUILD_COPY_STATE);
  const signingHome = held<string>(SIGNING_HOME_STATE);
  if (!mounts && !copy && !signingHome) {
    core.info('build-package post: the build released everything it held; nothing to clean up.');
    return;
  }
  const left: string[] = [];
  if (signingHome) {
    core.info(`build-package post: removing the signing key's GnuPG home ${signingHome}`);
    await removeGnupgHome(signingHome);
    if (await exists(signingHome)) left.push(`the signing home ${signingHome} is still there`);
  }
  if (mounts) {
    core.info(`build-package post: still mounted in ${mounts.root}: ${mounts.points.join(', ')}`);
    const stillMounted = await unmountAll(mounts.root, mounts.points);
    if (stillMounted.length > 0) left.push(`still mounted: ${stillMounted.join(', ')}`);
  }
  // After the mounts: the build directory of a build root lies inside it.
  if (copy) {
    core.info(`build-package post: removing the build directory ${copy}`);
    await fs.rm(copy, { recursive: true, force: true }).catch((error: Error) => {
      core.warning(`rm -r ${copy}: ${error.message}`);
    });
    if (await exists(copy)) left.push(`the build directory ${copy} is still there`);
    else core.info(`removed ${copy}`);
  }
  if (left.length > 0) throw new UserError(`Left behind: ${left.join('; ')}.`);
  core.info('build-package post: nothing the build held is left.');
}
