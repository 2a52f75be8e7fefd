/**
 * Pure functions over a PKGBUILD and its .SRCINFO: what the introspection script prints, bash's
 * syntax errors, the pkgver written into the build's copy, and the .SRCINFO comparison.
 */

/**
 * Run by bash (as the build user, in the PKGBUILD's directory; `$1` = CARCH): checks the syntax,
 * sources the PKGBUILD as makepkg does, and prints what the action needs, one `key=value` a line.
 * Exit 65: syntax error (bash's message on stderr); 66: sourcing failed.
 */
export const INTROSPECT_SCRIPT = [
  'bash -n PKGBUILD || exit 65',
  'CARCH=$1',
  'startdir=$PWD',
  'source ./PKGBUILD >&2 </dev/null || { echo "sourcing the PKGBUILD failed" >&2; exit 66; }',
  'printf "pkgbase=%s\\n" "${pkgbase:-${pkgname[0]}}"',
  'printf "pkgname=%s\\n" "${pkgname[@]}"',
  'printf "arch=%s\\n" "${arch[@]}"',
  'printf "pkgver=%s\\npkgrel=%s\\nepoch=%s\\n" "$pkgver" "$pkgrel" "${epoch:-}"',
  'if declare -F pkgver >/dev/null; then echo pkgverfunc=1; else echo pkgverfunc=0; fi',
  // Each kind with its architecture-specific part (depends_i686 ...), as makepkg merges them.
  'for kind in depends makedepends checkdepends; do',
  '  all="$kind[@]"; own="${kind}_$CARCH[@]"',
  '  printf "$kind=%s\\n" "${!all}" "${!own}"',
  'done',
].join('\n');

/**
 * Run by bash like INTROSPECT_SCRIPT: prints the .SRCINFO, written by makepkg's own library
 * (srcinfo.sh, the code behind `makepkg --printsrcinfo`, which lints and loads much more first):
 * a tenth of a second instead of most of one. Exit 67 when the library is not there.
 */
export const SRCINFO_SCRIPT = [
  'shopt -s extglob',
  'LIBRARY=${LIBRARY:-/usr/share/makepkg}',
  '[[ -r $LIBRARY/srcinfo.sh ]] || exit 67',
  'source "$LIBRARY/srcinfo.sh" >&2 || exit 67',
  'CARCH=$1',
  'startdir=$PWD',
  'shopt -u extglob',
  'source ./PKGBUILD >&2 </dev/null || { echo "sourcing the PKGBUILD failed" >&2; exit 66; }',
  'shopt -s extglob',
  'write_srcinfo_content',
].join('\n');

export interface PkgbuildFacts {
  pkgbase: string;
  pkgnames: string[];
  arches: string[];
  pkgver: string;
  pkgrel: string;
  epoch?: string;
  /** The PKGBUILD has its own pkgver() function. */
  hasPkgverFunction: boolean;
  /** Dependency strings (`name[>=version]`), the target arch's own ones included. */
  depends: string[];
  makedepends: string[];
  checkdepends: string[];
}

export function parseIntrospection(output: string): PkgbuildFacts {
  const values = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0) continue;
    const key = line.slice(0, at);
    const list = values.get(key) ?? [];
    list.push(line.slice(at + 1));
    values.set(key, list);
  }
  const one = (key: string) => values.get(key)?.[0] ?? '';
  return {
    pkgbase: one('pkgbase'),
    pkgnames: (values.get('pkgname') ?? []).filter(Boolean),
    arches: (values.get('arch') ?? []).filter(Boolean),
    pkgver: one('pkgver'),
    pkgrel: one('pkgrel'),
    epoch: one('epoch') || undefined,
    hasPkgverFunction: one('pkgverfunc') === '1',
    depends: (values.get('depends') ?? []).filter(Boolean),
    makedepends: (values.get('makedepends') ?? []).filter(Boolean),
    checkdepends: (values.get('checkdepends') ?? []).filter(Boolean),
  };
}

export interface SyntaxProblem {
  line: number;
  message: string;
}

/** The first `FILE: line N: message` of bash's stderr (`bash -n`). */
export function parseBashSyntaxError(stderr: string): SyntaxProblem | undefined {
  for (const line of stderr.split('\n')) {
    const match = /^[^:]*: line (\d+): (.*)$/.exec(line.trim());
    if (match) return { line: Number(match[1]), message: match[2] ?? '' };
  }
  return undefined;
}

/**
 * The PKGBUILD text with its top-level `pkgver=` set to `pkgver`, the way makepkg itself writes
 * a pkgver() result back (a sed of the `pkgver=` lines); appended when the PKGBUILD has none.
 */
export function setPkgver(text: string, pkgver: string): string {
  const pattern = /^pkgver=[^ \n]*/gm;
  if (/^pkgver=/m.test(text)) return text.replace(pattern, `pkgver=${pkgver}`);
  return `${text.replace(/\n?$/, '\n')}pkgver=${pkgver}\n`;
}

/**
 * A .SRCINFO with the pkgbase section's `pkgver` and `pkgrel` set to what was built (pkgver()
 * ran during the build, and makepkg resets pkgrel to 1 when it changes pkgver).
 */
export function srcinfoWithVersion(srcinfo: string, pkgver: string, pkgrel: string): string {
  return srcinfo
    .replace(/^(\tpkgver = ).*$/m, `$1${pkgver}`)
    .replace(/^(\tpkgrel = ).*$/m, `$1${pkgrel}`);
}

/** The first line where two texts differ (1-based; trailing blank lines ignored). */
export function firstDifference(
  expected: string,
  actual: string,
): { line: number; expected: string | undefined; actual: string | undefined } | undefined {
  const lines = (text: string) => text.replace(/\s+$/, '').split('\n');
  const a = lines(expected);
  const b = lines(actual);
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    if (a[index] !== b[index]) {
      return { line: index + 1, expected: a[index], actual: b[index] };
    }
  }
  return undefined;
}

/** Sets the pkgbase's pkgver and pkgrel lines of `text` to those of `like` (so they are not compared). */
export function withVersionOf(text: string, like: string): string {
  let result = text;
  for (const field of ['pkgver', 'pkgrel']) {
    const pattern = new RegExp(`^\\t${field} = .*$`, 'm');
    const wanted = pattern.exec(like)?.[0];
    if (wanted !== undefined) result = result.replace(pattern, wanted);
  }
  return result;
}

/** Replaces every occurrence of `from` with `to` (the build copy's path with the original). */
export function replacePath(text: string, from: string, to: string): string {
  return from === to || from === '' ? text : text.split(from).join(to);
}
