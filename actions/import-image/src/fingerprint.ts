import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * `cache-fingerprint`: a digest of a root's metadata as git's index keeps it (path, type, size,
 * mtime and ctime in nanoseconds, device and inode, mode, owner, link count, symlink target),
 * walked in the tar writer's order, with whether each path is selected for the layer. Equal
 * fingerprints stand for equal tar streams without reading a file; docs/dev/layer-format.md
 * says what that can miss.
 */
export function treeFingerprint(
  root: string,
  layer: { mtimeClamp: number; select?: (relativePath: string) => boolean },
): string {
  const hash = createHash('sha256');
  // The tar writer's version: a change of its format must not meet old fingerprints.
  hash.update(`arch-core layer 1 clamp ${layer.mtimeClamp}\n`);
  const walk = (relativeDir: string): void => {
    const names = fs.readdirSync(path.join(root, relativeDir)).sort(byName);
    for (const name of names) {
      const relative = relativeDir ? `${relativeDir}/${name}` : name;
      const full = path.join(root, relative);
      const stat = fs.lstatSync(full, { bigint: true });
      const selected = layer.select?.(relative) ?? true;
      const target = stat.isSymbolicLink() ? fs.readlinkSync(full) : '';
      hash.update(
        `${relative}\0${selected ? 1 : 0} ${stat.mode} ${stat.size} ${stat.mtimeNs} ${stat.ctimeNs} ${stat.dev} ${stat.ino} ${stat.uid} ${stat.gid} ${stat.nlink}\0${target}\n`,
      );
      if (stat.isDirectory()) walk(relative);
    }
  };
  walk('');
  return hash.digest('hex');
}

function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
