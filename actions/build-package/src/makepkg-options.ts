import { InputError } from '../../core/src/errors.js';

/**
 * makepkg's command line read the way makepkg reads it (its `parseopts`, a getopt_long work-alike;
 * docs/dev/tool-facts.md): a long option may be cut to any unambiguous prefix (`--confi`), takes
 * its argument as `--opt=value` or as the next word; short options bundle (`-cf`) and one that
 * takes an argument takes the rest of its word (`-pPATH`) or the next word (`-cp PATH`).
 */

/** makepkg's short options; a colon follows those that take an argument. */
const SHORT_OPTIONS = 'AcCdefFghiLmop:rRsSV';

/** makepkg's long options (its own, then those it passes to pacman); `:` takes an argument. */
const LONG_OPTIONS = [
  'allsource',
  'check',
  'clean',
  'cleanbuild',
  'config:',
  'force',
  'geninteg',
  'help',
  'holdver',
  'ignorearch',
  'install',
  'key:',
  'log',
  'noarchive',
  'nobuild',
  'nocolor',
  'nocheck',
  'nodeps',
  'noextract',
  'noprepare',
  'nosign',
  'packagelist',
  'printsrcinfo',
  'repackage',
  'rmdeps',
  'sign',
  'skipchecksums',
  'skipinteg',
  'skippgpcheck',
  'source',
  'syncdeps',
  'verifysource',
  'version',
  'asdeps',
  'noconfirm',
  'needed',
  'noprogressbar',
];

/** The long option a short one means to makepkg; `-F` and `-p` have none. */
const SHORT_MEANS: Record<string, string> = {
  A: 'ignorearch',
  c: 'clean',
  C: 'cleanbuild',
  d: 'nodeps',
  e: 'noextract',
  f: 'force',
  g: 'geninteg',
  h: 'help',
  i: 'install',
  L: 'log',
  m: 'nocolor',
  o: 'nobuild',
  r: 'rmdeps',
  R: 'repackage',
  s: 'syncdeps',
  S: 'source',
  V: 'version',
};

export interface MakepkgOption {
  /** What makepkg takes it for: `--config`, `--syncdeps` (also for `-s`), `-p`, `-F`. */
  name: string;
  /** The words it came from, as given. */
  given: string;
  value?: string;
}

function fail(problem: string): never {
  throw new InputError('makepkg-args', `${problem}; see makepkg --help for what it takes.`);
}

/** The long option `--prefix` names: itself when exact, else the one option it begins. */
function matchLong(prefix: string): { name: string; takesValue: boolean } {
  const names = LONG_OPTIONS.map((option) => option.replace(/:$/, ''));
  const exact = names.indexOf(prefix);
  const matches = exact >= 0 ? [exact] : names.flatMap((n, i) => (n.startsWith(prefix) ? [i] : []));
  if (matches.length === 0) fail(`"--${prefix}" is not a makepkg option`);
  if (matches.length > 1) {
    const list = matches.map((i) => `--${names[i]}`).join(', ');
    fail(`"--${prefix}" is ambiguous to makepkg (${list})`);
  }
  const option = LONG_OPTIONS[matches[0] as number] as string;
  return { name: `--${option.replace(/:$/, '')}`, takesValue: option.endsWith(':') };
}

/** The options in `-abc` (and what comes after it when the last one takes an argument). */
function parseShortWord(
  word: string,
  next: string | undefined,
): { options: MakepkgOption[]; used: number } {
  const options: MakepkgOption[] = [];
  for (let i = 1; i < word.length; i++) {
    const letter = word[i] as string;
    const at = SHORT_OPTIONS.indexOf(letter);
    if (at < 0 || letter === ':') fail(`"-${letter}" (in "${word}") is not a makepkg option`);
    const name = SHORT_MEANS[letter] ? `--${SHORT_MEANS[letter]}` : `-${letter}`;
    if (SHORT_OPTIONS[at + 1] !== ':') {
      options.push({ name, given: word });
      continue;
    }
    if (i < word.length - 1) {
      options.push({ name, given: word, value: word.slice(i + 1) });
      return { options, used: 1 };
    }
    if (next === undefined) fail(`"-${letter}" (in "${word}") needs an argument`);
    options.push({ name, given: `${word} ${next}`, value: next });
    return { options, used: 2 };
  }
  return { options, used: 1 };
}

function parseLongWord(
  word: string,
  next: string | undefined,
): { option: MakepkgOption; used: number } {
  const equals = word.indexOf('=');
  const prefix = equals < 0 ? word.slice(2) : word.slice(2, equals);
  const { name, takesValue } = matchLong(prefix);
  if (!takesValue) {
    if (equals >= 0) fail(`"${word}": ${name} takes no argument`);
    return { option: { name, given: word }, used: 1 };
  }
  if (equals >= 0) return { option: { name, given: word, value: word.slice(equals + 1) }, used: 1 };
  if (next === undefined) fail(`"${word}" (${name}) needs an argument`);
  return { option: { name, given: `${word} ${next}`, value: next }, used: 2 };
}

/**
 * The options makepkg takes from `args`, in order, and its other words (after `--`, and words
 * not starting with `-`; makepkg takes those of the form `NAME=value` as variables for the build).
 * What makepkg would refuse (an unknown option, an ambiguous prefix, a missing argument) is an
 * InputError naming makepkg-args.
 */
export function parseMakepkgOptions(args: readonly string[]): {
  options: MakepkgOption[];
  operands: string[];
} {
  const options: MakepkgOption[] = [];
  const operands: string[] = [];
  for (let i = 0; i < args.length;) {
    const word = args[i] as string;
    const next = args[i + 1];
    if (word === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (word.startsWith('--')) {
      const parsed = parseLongWord(word, next);
      options.push(parsed.option);
      i += parsed.used;
    } else if (word.startsWith('-') && word.length > 1) {
      const parsed = parseShortWord(word, next);
      options.push(...parsed.options);
      i += parsed.used;
    } else {
      operands.push(word);
      i += 1;
    }
  }
  return { options, operands };
}

/** The names (as in MakepkgOption.name) of the options in `args`. */
export function makepkgOptionNames(args: readonly string[]): Set<string> {
  return new Set(parseMakepkgOptions(args).options.map((option) => option.name));
}
