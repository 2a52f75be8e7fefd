import * as path from 'node:path';

/**
 * The links of an action's README.md and CHANGELOG.md as its mirror repository needs them: a
 * relative link that leaves the action's folder (`../../workflows-examples/deploy.yml`) points
 * at nothing in the mirror, so it becomes a link to the monorepo at the released commit. Links
 * with a scheme, absolute paths, anchors and links inside the folder stay as written.
 */

export interface MonorepoLinks {
  /** The action's folder in the monorepo, e.g. `actions/build-package`. */
  folder: string;
  /** The monorepo's web URL, e.g. `https://github.com/arch-core/arch-core`. */
  sourceUrl: string;
  /** The monorepo commit the release is built from. */
  commit: string;
  /** Whether a path of the monorepo (relative to its root) is a directory. */
  isDirectory(repoPath: string): boolean;
}

const INLINE_LINK = /(\]\(\s*)([^()\s]+)/g;
const REFERENCE_DEFINITION = /^( {0,3}\[[^\]]+\]:[ \t]*)(\S+)/gm;

/** `target` as the mirror needs it; throws when it leaves the monorepo itself. */
export function mirrorLinkTarget(target: string, links: MonorepoLinks): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#') || target.startsWith('/')) {
    return target;
  }
  const hash = target.indexOf('#');
  const file = hash === -1 ? target : target.slice(0, hash);
  const fragment = hash === -1 ? '' : target.slice(hash);
  const resolved = path.posix.normalize(path.posix.join(links.folder, file)).replace(/\/$/, '');
  if (resolved === links.folder || resolved.startsWith(`${links.folder}/`)) return target;
  if (resolved === '..' || resolved.startsWith('../')) {
    throw new Error(`the link ${target} in ${links.folder} leaves the monorepo.`);
  }
  const kind = links.isDirectory(resolved) ? 'tree' : 'blob';
  const base = links.sourceUrl.replace(/\/+$/, '').replace(/\.git$/, '');
  return `${base}/${kind}/${links.commit}/${resolved}${fragment}`;
}

/** Every inline link and reference definition of `markdown`, through mirrorLinkTarget. */
export function rewriteMirrorLinks(markdown: string, links: MonorepoLinks): string {
  const rewrite = (_match: string, before: string, target: string) =>
    `${before}${mirrorLinkTarget(target, links)}`;
  return markdown.replace(INLINE_LINK, rewrite).replace(REFERENCE_DEFINITION, rewrite);
}
