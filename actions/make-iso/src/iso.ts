import * as fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';

/**
 * Config-drive ISOs (what VMware Player and OpenStack-style platforms read): ISO 9660 with Rock
 * Ridge and Joliet, volume label `config-2`, the cloud-config at `openstack/latest/user_data`.
 * xorriso makes it byte-for-byte reproducible under SOURCE_DATE_EPOCH; genisoimage is the
 * fallback (it works but is not reproducible).
 */

export const VOLUME_LABEL = 'config-2';
export const USER_DATA_PATH = 'openstack/latest/user_data';
/** The date written into an ISO when SOURCE_DATE_EPOCH is not set (1980-01-01T00:00:00Z). */
export const DEFAULT_EPOCH = 315532800;

export type IsoTool = 'xorriso' | 'genisoimage';

/** Pure: the command line that makes `output` from the directory `tree`. */
export function isoCommand(
  tool: IsoTool,
  output: string,
  tree: string,
): { command: string; args: string[] } {
  if (tool === 'xorriso') {
    return {
      command: 'xorriso',
      args: ['-as', 'mkisofs', '-o', output, '-V', VOLUME_LABEL, '-R', '-J', tree],
    };
  }
  return {
    command: 'genisoimage',
    args: ['-quiet', '-o', output, '-V', VOLUME_LABEL, '-R', '-J', '-input-charset', 'utf-8', tree],
  };
}

async function onPath(name: string, searchPath: string): Promise<boolean> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    try {
      await fs.access(path.join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The ISO tool to use: xorriso, else genisoimage, else a clear error naming both. */
export async function findIsoTool(searchPath = process.env.PATH ?? ''): Promise<IsoTool> {
  if (await onPath('xorriso', searchPath)) return 'xorriso';
  if (await onPath('genisoimage', searchPath)) return 'genisoimage';
  throw new UserError(
    'Neither xorriso nor genisoimage is installed: install the Debian package xorriso (reproducible ISOs) or genisoimage to make config-drive ISOs, or use format: user-data.',
  );
}

/**
 * Writes a config-drive ISO holding `userData` to `output` (which must not be read until this
 * resolves; the caller renames it into place). `epoch` pins every date in the image.
 */
export async function makeConfigDrive(
  tool: IsoTool,
  userData: string,
  output: string,
  workDir: string,
  epoch: number,
): Promise<void> {
  const tree = path.join(workDir, 'tree');
  const file = path.join(tree, USER_DATA_PATH);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, userData, { mode: 0o644 });
  const date = new Date(epoch * 1000);
  for (const entry of [file, path.dirname(file), path.dirname(path.dirname(file)), tree]) {
    await fs.utimes(entry, date, date);
  }
  const { command, args } = isoCommand(tool, output, tree);
  await execQuiet(command, args, {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    silent: true,
    missingHint: 'install the Debian package xorriso (or genisoimage)',
  });
  await fs.rm(tree, { recursive: true, force: true });
}
