import { createHash } from 'node:crypto';

/**
 * A package's `license` entries as an SPDX license expression (SPDX 2.3, annex D).
 *
 * Arch's packages name licenses either by SPDX identifier or expression (`GPL-2.0-or-later`,
 * `MIT OR Apache-2.0`, current packaging) or by older names of their own (`GPL2`, `custom`,
 * `custom:Foo`). An identifier counts as SPDX only when it is on the list below (matched
 * without regard to case, as annex D says, and written in the list's case); anything else becomes
 * a `LicenseRef-` of the document, which the spec allows for any license. The list is short on
 * purpose: an SPDX license missing from it is written as a LicenseRef, which is less precise but
 * never wrong; a name written as an SPDX identifier that is not one would be.
 */
const SPDX_LICENSES = [
  '0BSD',
  'AGPL-3.0-only',
  'AGPL-3.0-or-later',
  'Apache-2.0',
  'Artistic-1.0-Perl',
  'Artistic-2.0',
  'BSD-1-Clause',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'BSD-4-Clause',
  'BSL-1.0',
  'bzip2-1.0.6',
  'CC-BY-4.0',
  'CC-BY-SA-4.0',
  'CC0-1.0',
  'CDDL-1.0',
  'curl',
  'EPL-2.0',
  'FSFAP',
  'FSFUL',
  'FSFULLR',
  'GFDL-1.3-or-later',
  'GPL-1.0-or-later',
  'GPL-2.0-only',
  'GPL-2.0-or-later',
  'GPL-3.0-only',
  'GPL-3.0-or-later',
  'HPND',
  'ICU',
  'IJG',
  'ISC',
  'LGPL-2.0-only',
  'LGPL-2.0-or-later',
  'LGPL-2.1-only',
  'LGPL-2.1-or-later',
  'LGPL-3.0-only',
  'LGPL-3.0-or-later',
  'libpng-2.0',
  'MIT',
  'MIT-0',
  'MPL-1.1',
  'MPL-2.0',
  'NCSA',
  'OpenSSL',
  'PSF-2.0',
  'Python-2.0',
  'Ruby',
  'Unicode-3.0',
  'Unicode-DFS-2016',
  'Unlicense',
  'Vim',
  'X11',
  'Zlib',
  'ZPL-2.1',
] as const;

const SPDX_EXCEPTIONS = [
  'Autoconf-exception-3.0',
  'Bison-exception-2.2',
  'Classpath-exception-2.0',
  'GCC-exception-3.1',
  'LLVM-exception',
  'OpenSSL-exception',
] as const;

/** The licenses this module writes as SPDX identifiers (for tests that check them). */
export const KNOWN_SPDX_LICENSES: readonly string[] = SPDX_LICENSES;

const byLowerCase = (names: readonly string[]): Map<string, string> =>
  new Map(names.map((name) => [name.toLowerCase(), name]));
const LICENSES = byLowerCase(SPDX_LICENSES);
const EXCEPTIONS = byLowerCase(SPDX_EXCEPTIONS);

/** `text` as an SPDX idstring (letters, digits, `.` and `-`), made unique when changed. */
export function spdxIdString(text: string): string {
  const plain = text.replace(/[^A-Za-z0-9.-]+/g, '-');
  if (plain === text) return text;
  // Two names that differ only in the replaced characters must not share an id.
  return `${plain}-${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
}

/**
 * One license entry as an SPDX expression in canonical case, or undefined when it is not one of
 * listed identifiers joined by AND, OR, WITH and parentheses (pure).
 */
export function spdxExpressionOf(entry: string): string | undefined {
  const tokens = entry.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const next = (): string | undefined => tokens[at];
  const compound = (): string | undefined => {
    const parts = [conjunction()];
    while (next() === 'OR') {
      at += 1;
      parts.push(conjunction());
    }
    return parts.includes(undefined) ? undefined : parts.join(' OR ');
  };
  const conjunction = (): string | undefined => {
    const parts = [term()];
    while (next() === 'AND') {
      at += 1;
      parts.push(term());
    }
    return parts.includes(undefined) ? undefined : parts.join(' AND ');
  };
  const term = (): string | undefined => {
    const token = tokens[at++];
    if (token === '(') {
      const inner = compound();
      return tokens[at++] === ')' && inner !== undefined ? `(${inner})` : undefined;
    }
    const plus = token?.endsWith('+') ? '+' : '';
    const license = LICENSES.get((plus ? token!.slice(0, -1) : (token ?? '')).toLowerCase());
    if (license === undefined) return undefined;
    if (next() !== 'WITH') return `${license}${plus}`;
    at += 1;
    const exception = EXCEPTIONS.get((tokens[at++] ?? '').toLowerCase());
    return exception === undefined ? undefined : `${license}${plus} WITH ${exception}`;
  };
  const expression = compound();
  return at === tokens.length ? expression : undefined;
}

/** A license the document names by LicenseRef: its id and the package metadata's own text. */
export interface LicenseRef {
  id: string;
  name: string;
}

export interface PackageLicense {
  /** The SPDX expression of all entries (AND); undefined when the package names none. */
  expression?: string;
  /** Per entry: its SPDX expression, or undefined when it became a LicenseRef. */
  entries: Array<{ text: string; spdx?: string; ref?: LicenseRef }>;
}

export function licenseRefOf(text: string): LicenseRef {
  return { id: `LicenseRef-${spdxIdString(text)}`, name: text };
}

/** A package's license entries, each mapped, and all of them as one expression (pure). */
export function packageLicense(entries: readonly string[]): PackageLicense {
  const mapped = entries.map((text) => {
    const spdx = spdxExpressionOf(text);
    return spdx === undefined ? { text, ref: licenseRefOf(text) } : { text, spdx };
  });
  if (mapped.length === 0) return { entries: [] };
  const parts = mapped.map((entry) => {
    const part = entry.spdx ?? entry.ref!.id;
    return mapped.length > 1 && / (AND|OR) /.test(part) ? `(${part})` : part;
  });
  // pacman lists every license the package's files come under: all of them apply.
  return { expression: parts.join(' AND '), entries: mapped };
}
