import { InputError } from '../../core/src/errors.js';
import type { ArchInput, Pkgext } from './inputs.js';
import { makepkgOptionNames } from './makepkg-options.js';

/**
 * Pure functions that turn the inputs and what the PKGBUILD says into the build: the target
 * architecture, makepkg's arguments and environment, the i686 makepkg.conf, and the command line
 * that runs makepkg as the build user (under `setarch i686`, inside a build root).
 */

export interface ArchPlan {
  /** CARCH for makepkg; undefined keeps the makepkg.conf's. */
  carch?: string;
  /** What the package's arch will be (`any` for arch=(any) PKGBUILDs). */
  packageArch: string;
  /** Run under the i686 personality (`setarch i686`, uname -m = i686). */
  setarchI686: boolean;
  /** Cross-build with the host's compiler and -m32 (i686 on an x86_64 host, no build root). */
  multilib: boolean;
}

/**
 * The architecture to build for. `auto`: the PKGBUILD's single arch, else the native one (the
 * build root's, else the host's). A named arch must be one the PKGBUILD lists (or `any`),
 * unless makepkg is told --ignorearch.
 */
export function resolveArch(
  input: ArchInput,
  pkgbuildArches: readonly string[],
  native: string,
  options: { ignoreArch?: boolean; inBuildRoot?: boolean } = {},
): ArchPlan {
  const listed = pkgbuildArches.length > 0 ? pkgbuildArches : [native];
  const isAny = listed.includes('any');
  let target: string;
  if (input === 'any') {
    if (!isAny) {
      throw new InputError(
        'arch',
        `any needs a PKGBUILD with arch=('any'); this one has arch=(${listed.join(' ')}).`,
      );
    }
    target = native;
  } else if (input === 'auto') {
    target = !isAny && listed.length === 1 ? (listed[0] as string) : native;
  } else {
    if (!isAny && !listed.includes(input) && !options.ignoreArch) {
      throw new InputError(
        'arch',
        `${input} is not in the PKGBUILD's arch=(${listed.join(' ')}); use one of those, or pass --ignorearch in makepkg-args.`,
      );
    }
    target = input;
  }
  const i686 = target === 'i686';
  return {
    carch: input === 'auto' && target === native ? undefined : target,
    packageArch: isAny ? 'any' : target,
    setarchI686: i686,
    multilib: i686 && native !== 'i686' && !options.inBuildRoot,
  };
}

/** The host's architecture as pacman names it. */
export function pacmanArch(nodeArch: string): string {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'ia32') return 'i686';
  if (nodeArch === 'arm64') return 'aarch64';
  return nodeArch;
}

/** Compiler and linker flags as makepkg exports them to build(). */
export interface BuildFlags {
  cflags: string;
  cxxflags: string;
  ldflags: string;
}

/**
 * The defaults of Arch's makepkg.conf for each arch: Arch Linux's for x86_64 (hardening, frame
 * pointers, packed relocations), Arch Linux 32's for i686. Debian's and Ubuntu's makepkg.conf
 * ship these commented out, so a build there would get none (see docs/dev/tool-facts.md).
 */
export const ARCH_BUILD_FLAGS: Readonly<Record<string, BuildFlags>> = {
  x86_64: {
    cflags:
      '-march=x86-64 -mtune=generic -O2 -pipe -fno-plt -fexceptions -Wp,-D_FORTIFY_SOURCE=3 -Wformat -Werror=format-security -fstack-clash-protection -fcf-protection -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer',
    cxxflags: '$CFLAGS -Wp,-D_GLIBCXX_ASSERTIONS',
    ldflags:
      '-Wl,-O1 -Wl,--sort-common -Wl,--as-needed -Wl,-z,relro -Wl,-z,now -Wl,-z,pack-relative-relocs',
  },
  i686: {
    cflags:
      '-march=i686 -mtune=generic -O2 -pipe -fno-plt -fexceptions -Wp,-D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security -fstack-clash-protection',
    cxxflags: '$CFLAGS -Wp,-D_GLIBCXX_ASSERTIONS',
    ldflags: '-Wl,-O1,--sort-common,--as-needed,-z,relro,-z,now',
  },
};

/**
 * A makepkg.conf for i686 with the host's multilib compiler: the system's, then CARCH/CHOST and
 * Arch Linux 32's flags with -m32 on top (makepkg exports them to build()).
 */
export function i686MakepkgConf(systemConf: string): string {
  const flags = ARCH_BUILD_FLAGS.i686 as BuildFlags;
  return [
    `source ${quoteBash(systemConf)}`,
    'CARCH="i686"',
    'CHOST="i686-pc-linux-gnu"',
    `CFLAGS="-m32 ${flags.cflags}"`,
    `CXXFLAGS="${flags.cxxflags}"`,
    `LDFLAGS="-m32 ${flags.ldflags}"`,
    '',
  ].join('\n');
}

/**
 * A makepkg.conf that reads the system's, then gives `carch` Arch's flags for each of CFLAGS,
 * CXXFLAGS and LDFLAGS the system's leaves unset or empty; undefined for an arch without them.
 */
export function defaultFlagsMakepkgConf(systemConf: string, carch: string): string | undefined {
  const flags = ARCH_BUILD_FLAGS[carch];
  if (!flags) return undefined;
  const orDefault = (name: string, value: string) => `[[ -n \${${name}-} ]] || ${name}="${value}"`;
  return [
    `source ${quoteBash(systemConf)}`,
    orDefault('CFLAGS', flags.cflags),
    orDefault('CXXFLAGS', flags.cxxflags),
    orDefault('LDFLAGS', flags.ldflags),
    '',
  ].join('\n');
}

function quoteBash(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface MakepkgPlan {
  /** The directory holding the PKGBUILD, as the build sees it (inside the root when chrooted). */
  buildDir: string;
  home: string;
  pkgdest: string;
  srcdest: string;
  pkgext: Pkgext;
  arch: ArchPlan;
  /** A makepkg.conf of the action's (the i686 multilib one, or Arch's default flags). */
  config?: string;
  /** Extra makepkg arguments of the user's. */
  extraArgs: readonly string[];
  /** The build root has no pacman: PACMAN=/usr/bin/true (makepkg dies without one). */
  noPacman?: boolean;
}

/** makepkg's arguments for the build. --nodeps unless the user asked for dependency syncing. */
export function makepkgArgs(plan: MakepkgPlan): string[] {
  const args: string[] = [];
  if (plan.config) args.push('--config', plan.config);
  const given = makepkgOptionNames(plan.extraArgs);
  if (!given.has('--syncdeps') && !given.has('--nodeps')) {
    args.push('--nodeps');
  }
  args.push('--noconfirm', '--noprogressbar', ...plan.extraArgs);
  return args;
}

/** The environment makepkg runs with (set with `env` after the user switch). */
export function makepkgEnv(plan: MakepkgPlan): string[] {
  const env = [
    `HOME=${plan.home}`,
    `PKGDEST=${plan.pkgdest}`,
    `SRCDEST=${plan.srcdest}`,
    `PKGEXT=${plan.pkgext}`,
  ];
  if (plan.arch.carch) env.push(`CARCH=${plan.arch.carch}`);
  if (plan.noPacman) env.push('PACMAN=/usr/bin/true');
  return env;
}

export interface Runner {
  /** Switch to this user (when the action runs as root). */
  user?: string;
  /** chroot into this root first. */
  root?: string;
  setarchI686: boolean;
}

/** The PATH inside a build root (a chroot starts with a clean environment). */
export const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Variables of the action's environment the build user's commands (makepkg, and so the PKGBUILD)
 * see, besides PATH, LC_* and what the action sets itself: the locale, the terminal, a
 * reproducible build date, make's flags, the packager's name, and the proxies sources are
 * downloaded through. Nothing else passes: not the runner's tokens, not INPUT_*, not GITHUB_*.
 */
export const PASSED_VARIABLES = [
  'LANG',
  'LANGUAGE',
  'TZ',
  'TERM',
  'SOURCE_DATE_EPOCH',
  'MAKEFLAGS',
  'PACKAGER',
  ...['http_proxy', 'https_proxy', 'ftp_proxy', 'all_proxy', 'no_proxy'].flatMap((name) => [
    name,
    name.toUpperCase(),
  ]),
];

/**
 * The whole environment of a build user's command: PATH (the build root's inside one), the
 * allow-listed variables of `parent`, then `own` (the action's, which win).
 */
export function buildUserEnv(
  parent: NodeJS.ProcessEnv,
  inBuildRoot: boolean,
  own: readonly string[],
): string[] {
  const passed = Object.keys(parent)
    .filter((name) => PASSED_VARIABLES.includes(name) || /^LC_[A-Z_]+$/.test(name))
    .sort()
    .map((name) => `${name}=${parent[name] ?? ''}`);
  const pathValue = inBuildRoot ? ROOT_PATH : (parent.PATH ?? ROOT_PATH);
  return [`PATH=${pathValue}`, ...passed, ...own];
}

/**
 * The argv that runs `program args` in `cwd` with `env` and nothing else of the environment, as
 * the build user, under the i686 personality, inside the build root, as the runner asks:
 * `[setarch i686] [chroot ROOT env -i PATH=..] [runuser -u USER --] env -i -C CWD VARS program args`.
 */
export function wrapCommand(
  runner: Runner,
  cwd: string,
  env: readonly string[],
  program: string,
  args: readonly string[],
): string[] {
  const argv: string[] = [];
  if (runner.setarchI686) argv.push('setarch', 'i686');
  if (runner.root) argv.push('chroot', runner.root, '/usr/bin/env', '-i', `PATH=${ROOT_PATH}`);
  if (runner.user) argv.push('runuser', '-u', runner.user, '--');
  argv.push('env', '-i', '-C', cwd, ...env, program, ...args);
  return argv;
}
