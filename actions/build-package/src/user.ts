import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';

/**
 * The unprivileged build user makepkg runs as when the action runs as root (makepkg refuses
 * root). Created when missing, on the host or, for a build root, in the root's own passwd.
 */

export interface BuildUser {
  name: string;
  uid: number;
  gid: number;
}

/** The uid and gid of `name` in a passwd text. */
export function findInPasswd(passwd: string, name: string): BuildUser | undefined {
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 4) {
      return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
    }
  }
  return undefined;
}

async function lookUp(name: string, root: string): Promise<BuildUser | undefined> {
  if (root === '/') {
    const result = await execQuiet('getent', ['passwd', name], {
      silent: true,
      allowFailure: true,
    });
    return result.code === 0 ? findInPasswd(result.stdout, name) : undefined;
  }
  return findInPasswd(
    await fs.readFile(path.join(root, 'etc/passwd'), 'utf8').catch(() => ''),
    name,
  );
}

/** The build user in `root` ('/' for the host), created (system user, own group) if missing. */
export async function ensureBuildUser(name: string, root = '/'): Promise<BuildUser> {
  const found = await lookUp(name, root);
  if (found) {
    if (found.uid === 0)
      throw new UserError(`The build user "${name}" has uid 0; makepkg refuses root.`);
    return found;
  }
  const where = root === '/' ? [] : ['--root', root];
  await execQuiet(
    'useradd',
    [
      ...where,
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      name,
    ],
    { silent: true, missingHint: 'install the Debian package passwd' },
  );
  core.info(`Created the build user "${name}"${root === '/' ? '' : ` in ${root}`}.`);
  const created = await lookUp(name, root);
  if (!created) throw new UserError(`useradd did not create the build user "${name}".`);
  return created;
}
