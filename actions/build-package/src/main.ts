import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError, UserError } from '../../core/src/errors.js';
import { exec, execQuiet, tailOf } from '../../core/src/exec.js';
import {
  exists,
  humanBytes,
  sha256File,
  tempRoot,
  produceAtomically,
  makePrivateTempDir,
} from '../../core/src/files.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { hold, release } from '../../core/src/post.js';
import { appInfoPathFor, type AppInfo } from '../../core/src/manifest.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { isPackageFileName, readPackageInfo, type PackageInfo } from '../../core/src/pkginfo.js';
import { uploadArtifactDeprecation } from './artifact.js';
import { buildRootCarch, checkBuildRoot, withBuildRootMounts } from './buildroot.js';
import { parseInputs, type Inputs } from './inputs.js';
import { pacmanOwners, unlistedLibraries } from './linked-libraries.js';
import { BUILD_COPY_STATE } from './post.js';
import { makepkgOptionNames } from './makepkg-options.js';
import {
  buildUserEnv,
  defaultFlagsMakepkgConf,
  i686MakepkgConf,
  makepkgArgs,
  makepkgEnv,
  pacmanArch,
  resolveArch,
  wrapCommand,
  type ArchPlan,
  type MakepkgPlan,
  type Runner,
} from './makepkg.js';
import {
  INTROSPECT_SCRIPT,
  SRCINFO_SCRIPT,
  firstDifference,
  parseBashSyntaxError,
  parseIntrospection,
  replacePath,
  setPkgver,
  srcinfoWithVersion,
  withVersionOf,
  type PkgbuildFacts,
} from './pkgbuild.js';
import { repoAddSigning, signFile, withSigner, type Signer } from './signing.js';
import { dependencyTargets, installDependencies } from './syncdeps.js';
import { ensureBuildUser, type BuildUser } from './user.js';
import {
  findRepository,
  readVcsFacts,
  vcsPkgver,
  type VcsFacts,
  type VcsLocation,
} from './version.js';

/** A user's mistake at a place in a file: reported as an annotation there. */
export class AnnotatedError extends UserError {
  constructor(
    message: string,
    readonly properties: core.AnnotationProperties,
  ) {
    super(message);
  }
}

export async function run(): Promise<void> {
  try {
    await buildPackage(parseInputs(rawInputsFromEnv()));
  } catch (error) {
    if (!(error instanceof AnnotatedError)) throw error;
    core.error(error.message, error.properties);
    process.exitCode = 1;
  }
}

/** How a file is named in an annotation: relative to the workspace when inside it. */
function annotationPath(file: string): string {
  const relative = path.relative(process.env.GITHUB_WORKSPACE || process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

interface BuiltPackage {
  file: string;
  info: PackageInfo;
  sha256: string;
  size: number;
}

/** `[epoch:]pkgver-pkgrel` → pkgver. */
export function pkgverOf(version: string): string {
  return version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}

/** `[epoch:]pkgver-pkgrel` → pkgrel. */
export function pkgrelOf(version: string): string {
  return version.slice(version.lastIndexOf('-') + 1);
}

/** Moves a file into `dir`, atomically (a copy under a temporary name across file systems). */
async function moveInto(file: string, dir: string): Promise<string> {
  const target = path.join(dir, path.basename(file));
  try {
    await fs.rename(file, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyInto(file, dir);
    await fs.rm(file, { force: true });
  }
  // The build user made it; the one who runs the action owns the result.
  if (process.getuid && process.getgid) {
    await fs.chown(target, process.getuid(), process.getgid()).catch(() => undefined);
  }
  return target;
}

/** Copies a file into `dir` under a temporary name, then renames it into place. */
async function copyInto(file: string, dir: string): Promise<string> {
  const target = path.join(dir, path.basename(file));
  await produceAtomically(target, (temporary) => fs.copyFile(file, temporary));
  return target;
}

async function buildPackage(inputs: Inputs): Promise<void> {
  if (inputs.uploadArtifact) {
    core.warning(uploadArtifactDeprecation(inputs.uploadArtifact, process.env.GITHUB_ACTION));
  }
  const pkgbuildFile = path.join(inputs.path, 'PKGBUILD');
  const stat = await fs.stat(pkgbuildFile).catch(() => undefined);
  if (!stat?.isFile()) throw new InputError('path', `there is no PKGBUILD in ${inputs.path}.`);
  const buildRoot = inputs.buildRoot;
  if (buildRoot) await checkBuildRoot(buildRoot, inputs.pkgext);
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) core.info(`Not running as root: makepkg runs as this user, not as build-user.`);

  const workParent = buildRoot ? path.join(buildRoot, 'tmp') : await buildParent(asRoot);
  const work = await makePrivateTempDir('arch-core-build', workParent);
  hold(BUILD_COPY_STATE, work);
  try {
    const [location, user] = await Promise.all([
      findRepository(inputs.path, inputs.vcs),
      asRoot ? ensureBuildUser(inputs.buildUser, buildRoot ?? '/') : undefined,
    ]);
    const checkout = await copyCheckout(inputs, location, user, work);
    await inBuildRoot(buildRoot, async () => {
      const built = await buildInCopy(inputs, checkout, user, work);
      await publish(inputs, built.vcs, built);
    });
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    release(BUILD_COPY_STATE);
  }
}

/** True when every directory from `dir` up to / lets others pass (mode o+x). */
async function traversable(dir: string): Promise<boolean> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const stat = await fs.stat(current).catch(() => undefined);
    if (stat && (stat.mode & 0o001) === 0) return false;
    if (current === path.dirname(current)) return true;
  }
}

/** Where the build directory goes: the runner's temp dir when the build user can reach it. */
async function buildParent(asRoot: boolean): Promise<string> {
  if (!asRoot) return tempRoot();
  for (const candidate of [tempRoot(), os.tmpdir(), '/tmp', '/var/tmp']) {
    if (await traversable(candidate)) return candidate;
  }
  throw new UserError('No temporary directory the build user can reach (tried RUNNER_TEMP, /tmp).');
}

function inBuildRoot<T>(root: string | undefined, work: () => Promise<T>): Promise<T> {
  return root ? withBuildRootMounts(root, work) : work();
}

interface BuildResult {
  vcs: VcsFacts | undefined;
  pkgbuild: PkgbuildFacts;
  packages: BuiltPackage[];
  srcinfo: string;
  /** Where the packages wait until every check passed. */
  pkgdest: string;
}

interface Checkout {
  vcs: Promise<VcsFacts | undefined>;
  /** The PKGBUILD's directory in the copy. */
  buildDir: string;
  home: string;
  pkgdest: string;
  srcdest: string;
}

/**
 * Copies the repository holding the PKGBUILD (or its directory alone without one) into the
 * build directory, gives it to the build user, and starts reading the VCS facts there (nothing
 * is written into the user's checkout, not even a cache): as the build user on the host, so it
 * runs beside the PKGBUILD's introspection; before the hand-over for a build root (whose build
 * user may not exist on the host).
 */
async function copyCheckout(
  inputs: Inputs,
  location: VcsLocation | undefined,
  user: BuildUser | undefined,
  work: string,
): Promise<Checkout> {
  const copyFrom = location?.root ?? inputs.path;
  const tree = path.join(work, 'tree');
  const buildDir = path.join(tree, path.relative(copyFrom, inputs.path));
  const checkout = {
    buildDir,
    home: path.join(work, 'home'),
    pkgdest: path.join(work, 'pkgdest'),
    srcdest: path.join(work, 'srcdest'),
  };
  const copiedRoot = path.join(tree, path.relative(copyFrom, location?.root ?? copyFrom));
  return core.group(`Copying ${copyFrom} to a build directory of the build user`, async () => {
    await Promise.all([
      execQuiet('cp', ['-a', `${copyFrom}/.`, tree]),
      ...[checkout.home, checkout.pkgdest, checkout.srcdest].map((dir) => fs.mkdir(dir)),
    ]);
    let vcs: Promise<VcsFacts | undefined> = Promise.resolve(undefined);
    if (location && (!user || inputs.buildRoot)) {
      const facts = await readVcsFacts(location, copiedRoot);
      vcs = Promise.resolve(facts);
    }
    if (user) await execQuiet('chown', ['-R', `${user.uid}:${user.gid}`, work]);
    if (location && user && !inputs.buildRoot) {
      vcs = readVcsFacts(location, copiedRoot, user.name);
      vcs.catch(() => undefined); // awaited later; no unhandled rejection meanwhile
    }
    core.info(`${buildDir} (owner ${user ? user.name : 'this user'})`);
    return { ...checkout, vcs };
  });
}

/** What every command of one build shares: who runs it, where, and how paths look there. */
interface BuildSetting {
  inputs: Inputs;
  checkout: Checkout;
  runner: Runner;
  /** The build root's arch, else the host's. */
  native: string;
}

/** A host path as the build sees it: inside the build root when there is one. */
function inner(setting: BuildSetting, file: string): string {
  const root = setting.inputs.buildRoot;
  return root ? `/${path.relative(root, file)}` : file;
}

/** `HOME` for the commands that are not makepkg. */
function homeEnv(setting: BuildSetting): string[] {
  return [`HOME=${inner(setting, setting.checkout.home)}`];
}

/** The command line of `program` run as the build user in the copied PKGBUILD's directory, with `env` and the allow-listed variables only. */
function asBuildUser(
  setting: BuildSetting,
  program: string,
  args: string[],
  env: string[],
): [string, string[]] {
  const dir = inner(setting, setting.checkout.buildDir);
  const wholeEnv = buildUserEnv(process.env, Boolean(setting.runner.root), env);
  return split(wrapCommand(setting.runner, dir, wholeEnv, program, args));
}

async function buildSetting(
  inputs: Inputs,
  checkout: Checkout,
  user: BuildUser | undefined,
): Promise<BuildSetting> {
  const buildRoot = inputs.buildRoot;
  const native = buildRoot
    ? ((await buildRootCarch(buildRoot)) ?? pacmanArch(process.arch))
    : pacmanArch(process.arch);
  return {
    inputs,
    checkout,
    runner: { user: user?.name, root: buildRoot, setarchI686: false },
    native,
  };
}

async function buildInCopy(
  inputs: Inputs,
  checkout: Checkout,
  user: BuildUser | undefined,
  work: string,
): Promise<BuildResult> {
  const setting = await buildSetting(inputs, checkout, user);
  const pkgbuild = await introspect(setting);
  const arch = resolveArch(inputs.arch, pkgbuild.arches, setting.native, {
    ignoreArch: makepkgOptionNames(inputs.makepkgArgs).has('--ignorearch'),
    inBuildRoot: Boolean(inputs.buildRoot),
  });
  setting.runner.setarchI686 = arch.setarchI686;
  if (inputs.syncdeps && inputs.buildRoot) {
    const targets = dependencyTargets(pkgbuild, inputs.makepkgArgs);
    const cacheDir = await fs.mkdtemp(path.join(work, 'pacman-cache-'));
    await installDependencies(inputs.buildRoot, cacheDir, targets, arch.setarchI686);
  }
  if (inputs.pgpKeys) await importPgpKeys(setting, inputs.pgpKeys, work);
  const plan = await planMakepkg(setting, arch, work);
  const env = makepkgEnv(plan);

  let vcs = await versionFromVcs(pkgbuild, checkout);
  const srcinfo = await startSrcinfo(setting, pkgbuild, vcs, () =>
    generateSrcinfo(setting, plan, env),
  );
  await runMakepkg(setting, plan, env, pkgbuild, arch, srcinfo.later);
  vcs ??= await checkout.vcs;
  if (vcs) reportVcs(vcs);

  const packages = await readBuiltPackages(checkout.pkgdest);
  await warnUnlistedLibraries(setting, packages, work);
  // The .SRCINFO with the version built (pkgver() ran during the build).
  const main = mainPackage(packages, pkgbuild);
  const builtVersion = { pkgver: pkgverOf(main.info.version), pkgrel: pkgrelOf(main.info.version) };
  const text = srcinfo.early ?? (await (srcinfo.later as Promise<string>));
  return {
    pkgbuild,
    packages,
    srcinfo: srcinfoInCheckout(setting, text, builtVersion),
    pkgdest: checkout.pkgdest,
    vcs,
  };
}

/** One of makepkg.ts's bash scripts, run as the build user over the PKGBUILD. */
function runBuildUserScript(setting: BuildSetting, script: string): ReturnType<typeof execQuiet> {
  return execQuiet(
    ...asBuildUser(setting, 'bash', ['-c', script, 'bash', setting.native], homeEnv(setting)),
    { silent: true, allowFailure: true },
  );
}

/**
 * The pgp-keys into the build user's keyring (`HOME/.gnupg`, where makepkg's gpg looks), so
 * sources signed by a key of validpgpkeys verify. --no-autostart: importing public keys needs
 * no gpg-agent, and none is left running.
 */
async function importPgpKeys(setting: BuildSetting, keys: string, work: string): Promise<void> {
  const file = path.join(work, 'pgp-keys.asc');
  await fs.writeFile(file, keys.endsWith('\n') ? keys : `${keys}\n`, { mode: 0o644 });
  const args = ['--batch', '--no-autostart', '--import', inner(setting, file)];
  const result = await execQuiet(...asBuildUser(setting, 'gpg', args, homeEnv(setting)), {
    allowFailure: true,
    missingHint: 'install gnupg (gpg)',
  });
  if (result.code !== 0) {
    throw new InputError(
      'pgp-keys',
      `gpg could not import them: ${tailOf(result.stderr, 3).replace(/\n/g, '; ')}`,
    );
  }
  core.info(`pgp-keys: ${tailOf(result.stderr, 10)}`);
}

/** What the PKGBUILD says (sourced as the build user, as makepkg does). */
async function introspect(setting: BuildSetting): Promise<PkgbuildFacts> {
  const file = path.join(setting.inputs.path, 'PKGBUILD');
  const introspection = await runBuildUserScript(setting, INTROSPECT_SCRIPT);
  if (introspection.code === 65) {
    const problem = parseBashSyntaxError(introspection.stderr);
    throw new AnnotatedError(
      `${file}${problem ? ` line ${problem.line}: ${problem.message}` : `: ${introspection.stderr.trim()}`}`,
      { title: 'PKGBUILD syntax error', file: annotationPath(file), startLine: problem?.line },
    );
  }
  if (introspection.code !== 0) {
    throw new UserError(
      `Reading ${file} failed: ${tailOf(introspection.stderr, 5) || `exit ${introspection.code}`}`,
    );
  }
  return parseIntrospection(introspection.stdout);
}

/** The makepkg.conf of the host, or of the build root as seen inside it. */
const SYSTEM_MAKEPKG_CONF = '/etc/makepkg.conf';

async function planMakepkg(
  setting: BuildSetting,
  arch: ArchPlan,
  work: string,
): Promise<MakepkgPlan> {
  const { inputs, checkout } = setting;
  const text = arch.multilib
    ? i686MakepkgConf(SYSTEM_MAKEPKG_CONF)
    : defaultFlagsMakepkgConf(SYSTEM_MAKEPKG_CONF, arch.carch ?? setting.native);
  let config: string | undefined;
  if (text) {
    config = path.join(work, arch.multilib ? 'makepkg-i686.conf' : 'makepkg.conf');
    await fs.writeFile(config, text, { mode: 0o644 });
  }
  return {
    buildDir: inner(setting, checkout.buildDir),
    home: inner(setting, checkout.home),
    pkgdest: inner(setting, checkout.pkgdest),
    srcdest: inner(setting, checkout.srcdest),
    pkgext: inputs.pkgext,
    arch,
    config: config && inner(setting, config),
    extraArgs: inputs.makepkgArgs,
    noPacman: !(await exists(path.join(inputs.buildRoot ?? '/', 'usr/bin/pacman'))),
  };
}

/** The .SRCINFO: makepkg's library through SRCINFO_SCRIPT, else makepkg --printsrcinfo. */
async function generateSrcinfo(
  setting: BuildSetting,
  plan: MakepkgPlan,
  env: string[],
): Promise<string> {
  const fast = await runBuildUserScript(setting, SRCINFO_SCRIPT);
  if (fast.code === 0) return fast.stdout;
  const configArgs = plan.config ? ['--config', plan.config] : [];
  const slow = await execQuiet(
    ...asBuildUser(setting, 'makepkg', [...configArgs, '--printsrcinfo'], env),
    { silent: true, allowFailure: true },
  );
  if (slow.code !== 0) {
    throw new UserError(`makepkg --printsrcinfo failed: ${tailOf(slow.stderr, 5)}`);
  }
  return slow.stdout;
}

/**
 * The version: the repository's is needed before the build only when the PKGBUILD has no
 * pkgver() of its own (it is written into the copied PKGBUILD); otherwise the VCS is read beside
 * the build, for the outputs, and this gives undefined.
 */
async function versionFromVcs(
  pkgbuild: PkgbuildFacts,
  checkout: Checkout,
): Promise<VcsFacts | undefined> {
  if (pkgbuild.hasPkgverFunction) {
    core.info(`The PKGBUILD's own pkgver() sets the version.`);
    return undefined;
  }
  const vcs = await checkout.vcs;
  if (vcs) {
    const copiedPkgbuild = path.join(checkout.buildDir, 'PKGBUILD');
    const pkgver = vcsPkgver(vcs);
    const text = await fs.readFile(copiedPkgbuild, 'utf8');
    await fs.writeFile(copiedPkgbuild, setPkgver(text, pkgver));
    core.info(`pkgver ${pkgver} (from ${vcs.vcs}; the PKGBUILD has no pkgver())`);
  }
  return vcs;
}

/** A generated .SRCINFO as it reads in the user's checkout, with `versions` when given. */
function srcinfoInCheckout(
  setting: BuildSetting,
  text: string,
  versions?: { pkgver: string; pkgrel: string },
): string {
  const mapped = replacePath(text, inner(setting, setting.checkout.buildDir), setting.inputs.path);
  return versions ? srcinfoWithVersion(mapped, versions.pkgver, versions.pkgrel) : mapped;
}

interface PendingSrcinfo {
  /** Made and checked against the committed one before the build (in the checkout's form). */
  early?: string;
  /** Being made beside the build (as generated). */
  later?: Promise<string>;
}

/**
 * The .SRCINFO as `makepkg --printsrcinfo` would write it in the user's checkout. A committed
 * one is checked before anything is built; otherwise it is generated beside the build.
 */
async function startSrcinfo(
  setting: BuildSetting,
  pkgbuild: PkgbuildFacts,
  vcs: VcsFacts | undefined,
  generate: () => Promise<string>,
): Promise<PendingSrcinfo> {
  const dir = setting.inputs.path;
  if (await exists(path.join(dir, '.SRCINFO'))) {
    const vcsVersion = vcs ? { pkgver: vcsPkgver(vcs), pkgrel: pkgbuild.pkgrel } : undefined;
    const early = srcinfoInCheckout(setting, await generate(), vcsVersion);
    await checkCommittedSrcinfo(dir, early, Boolean(vcs) || pkgbuild.hasPkgverFunction);
    return { early };
  }
  const later = generate();
  later.catch(() => undefined); // awaited after the build
  return { later };
}

async function runMakepkg(
  setting: BuildSetting,
  plan: MakepkgPlan,
  env: string[],
  pkgbuild: PkgbuildFacts,
  arch: ArchPlan,
  srcinfoLater: Promise<string> | undefined,
): Promise<void> {
  const buildRoot = setting.inputs.buildRoot;
  const buildRun = await exec(...asBuildUser(setting, 'makepkg', makepkgArgs(plan), env), {
    group: `makepkg: ${pkgbuild.pkgbase} for ${arch.packageArch}${buildRoot ? ` in the build root ${buildRoot}` : ''}`,
    allowFailure: true,
    missingHint: 'install the Debian packages makepkg and libarchive-tools',
  });
  if (buildRun.code !== 0) {
    await srcinfoLater?.catch(() => undefined); // nothing of ours may run on in a build root
    throw new UserError(
      `The build of ${pkgbuild.pkgbase} failed (makepkg exited with code ${buildRun.code}); the last lines of its log (all of it is in the group above):\n${tailOf(buildRun.output, 15)}`,
    );
  }
}

function reportVcs(vcs: VcsFacts): void {
  core.info(
    `${vcs.vcs} repository ${vcs.root}: revision ${vcs.revision}, hash ${vcs.hash}${vcs.tag ? `, tag ${vcs.tag}` : ''}`,
  );
  if (vcs.shallow) {
    core.warning(
      `${vcs.root} is a shallow git clone: the revision count (${vcs.revision}) and the tags do not cover the whole history. Check out with fetch-depth: 0.`,
    );
  }
}

async function readBuiltPackages(pkgdest: string): Promise<BuiltPackage[]> {
  const packages: BuiltPackage[] = [];
  for (const name of (await fs.readdir(pkgdest)).sort()) {
    if (!isPackageFileName(name)) continue;
    const file = path.join(pkgdest, name);
    const [info, sha256, fileStat] = await Promise.all([
      readPackageInfo(file),
      sha256File(file),
      fs.stat(file),
    ]);
    packages.push({ file, info, sha256, size: fileStat.size });
  }
  if (packages.length === 0) throw new UserError(`makepkg finished but made no package file.`);
  return packages;
}

/**
 * A warning on the PKGBUILD for each library a built package links that no package in its
 * depends is known to provide (linked-libraries.ts); make-chroot's check then fails the root.
 */
async function warnUnlistedLibraries(
  setting: BuildSetting,
  packages: BuiltPackage[],
  work: string,
): Promise<void> {
  const buildRoot = setting.inputs.buildRoot;
  const place = { root: buildRoot ?? '/', onHost: !buildRoot };
  const owners = await pacmanOwners(place.root);
  const pkgbuild = annotationPath(path.join(setting.inputs.path, 'PKGBUILD'));
  for (const [index, entry] of packages.entries()) {
    const unpackDir = path.join(work, `unpacked-${index}`);
    const problems = await unlistedLibraries(
      entry.file,
      entry.info.depends,
      place,
      owners,
      unpackDir,
    );
    for (const problem of problems) {
      core.warning(`${entry.info.name}: ${problem}`, {
        title: 'A library not in depends',
        file: pkgbuild,
      });
    }
    await fs.rm(unpackDir, { recursive: true, force: true });
  }
}

function split(argv: string[]): [string, string[]] {
  return [argv[0] as string, argv.slice(1)];
}

function mainPackage(packages: BuiltPackage[], pkgbuild: PkgbuildFacts): BuiltPackage {
  return (
    packages.find((entry) => entry.info.name === pkgbuild.pkgbase) ??
    packages.find((entry) => entry.info.name === pkgbuild.pkgnames[0]) ??
    (packages[0] as BuiltPackage)
  );
}

/** A committed .SRCINFO must equal the generated one (its pkgver and pkgrel excepted when the VCS sets them). */
async function checkCommittedSrcinfo(
  dir: string,
  generated: string,
  versionFromVcs: boolean,
): Promise<void> {
  const file = path.join(dir, '.SRCINFO');
  let committed: string;
  try {
    committed = await fs.readFile(file, 'utf8');
  } catch {
    return;
  }
  const expected = versionFromVcs ? withVersionOf(generated, committed) : generated;
  const difference = firstDifference(committed, expected);
  if (!difference) {
    core.info(`${file} matches makepkg --printsrcinfo.`);
    return;
  }
  const show = (line: string | undefined) => {
    if (line === undefined) return '(the end of the file)';
    return line.trim() === '' ? '(a blank line)' : `"${line.trim()}"`;
  };
  throw new AnnotatedError(
    `${file} differs from makepkg --printsrcinfo at line ${difference.line}: it has ${show(difference.expected)}, the PKGBUILD gives ${show(difference.actual)}. Regenerate it with makepkg --printsrcinfo > .SRCINFO.`,
    { title: '.SRCINFO is stale', file: annotationPath(file), startLine: difference.line },
  );
}

async function publish(
  inputs: Inputs,
  vcs: VcsFacts | undefined,
  built: BuildResult,
): Promise<void> {
  await withSigner(inputs.gpgKey, async (signer) => {
    const outDir = inputs.outputDir ?? inputs.repo ?? path.join(tempRoot(), 'arch-core-packages');
    const main = mainPackage(built.packages, built.pkgbuild);
    const srcinfoName = `${built.pkgbuild.pkgbase}.SRCINFO`;
    if (signer) await signPackages(signer, built.packages);
    await writeRecords(built, vcs, srcinfoName);
    const placed = await placeInto(outDir, built, srcinfoName);
    const repoDb = inputs.repo
      ? await addToRepo(inputs.repo, inputs.repoName, placed.files, signer)
      : undefined;

    const version = main.info.version;
    setOutputs({
      packages: placed.files.join('\n'),
      signatures: signer ? placed.files.map((file) => `${file}.sig`).join('\n') : '',
      version,
      pkgver: pkgverOf(version),
      revision: vcs?.revision ?? '',
      hash: vcs?.hash ?? '',
      'repo-db': repoDb ?? '',
      srcinfo: placed.srcinfo,
    });
    await writeBuildSummary(built, version, vcs, repoDb, signer);
  });
}

/** A detached signature beside each package, made before anything is placed. */
function signPackages(signer: Signer, packages: readonly BuiltPackage[]): Promise<void> {
  return core.group(`Sign the packages with ${signer.key.fingerprint}`, async () => {
    for (const entry of packages) core.info(await signFile(signer, entry.file));
  });
}

/** The .SRCINFO and each package's app record beside the packages, so a package in place always has its record. */
async function writeRecords(
  built: BuildResult,
  vcs: VcsFacts | undefined,
  srcinfoName: string,
): Promise<void> {
  await fs.writeFile(path.join(built.pkgdest, srcinfoName), built.srcinfo);
  for (const entry of built.packages) {
    const info: AppInfo = {
      name: entry.info.name,
      version: entry.info.version,
      vcs: vcs?.vcs ?? 'none',
      revision: vcs?.revision,
      hash: vcs?.hash,
      commit: vcs?.commit,
      commitTime: vcs?.commitTime,
      source: vcs?.source,
    };
    await fs.writeFile(appInfoPathFor(entry.file), `${JSON.stringify(info, null, 2)}\n`);
  }
}

/** Moves the .SRCINFO, then each package's record and the package, into `outDir`. */
function placeInto(
  outDir: string,
  built: BuildResult,
  srcinfoName: string,
): Promise<{ files: string[]; srcinfo: string }> {
  return core.group(`Packages → ${outDir}`, async () => {
    await fs.mkdir(outDir, { recursive: true });
    const files: string[] = [];
    const srcinfo = await moveInto(path.join(built.pkgdest, srcinfoName), outDir);
    for (const entry of built.packages) {
      await moveInto(appInfoPathFor(entry.file), outDir);
      // The signature before its package: a package in place always has its signature.
      if (await exists(`${entry.file}.sig`)) await moveInto(`${entry.file}.sig`, outDir);
      const target = await moveInto(entry.file, outDir);
      core.info(target);
      files.push(target);
    }
    return { files, srcinfo };
  });
}

/** Adds the packages (copied in with their records and signatures when they are elsewhere) to the repository; gives its database. */
async function addToRepo(
  repo: string,
  repoName: string,
  files: string[],
  signer: Signer | undefined,
): Promise<string> {
  await fs.mkdir(repo, { recursive: true });
  const inRepo: string[] = [];
  for (const file of files) {
    if (path.dirname(file) === repo) {
      inRepo.push(file);
    } else {
      await copyInto(appInfoPathFor(file), repo);
      if (signer) await copyInto(`${file}.sig`, repo);
      inRepo.push(await copyInto(file, repo));
    }
  }
  const repoDb = path.join(repo, `${repoName}.db.tar.gz`);
  const signing = repoAddSigning(signer);
  const result = await exec('repo-add', ['-q', '-R', ...signing.args, repoDb, ...inRepo], {
    group: `repo-add: ${repoName} in ${repo}${signer ? ', signed' : ''}`,
    env: signing.env,
    allowFailure: true,
    missingHint: 'install the Debian package pacman-package-manager',
  });
  if (result.code !== 0) {
    const unverified = /signature file verification failed/i.test(result.output);
    throw new UserError(
      unverified
        ? `repo-add refused to update ${repoDb}: its signature does not verify with gpg-key (signed by another key, or changed since). The packages are in ${path.dirname(files[0] ?? repo)}; the database was left as it was.`
        : `repo-add failed (exit ${result.code}) on ${repoDb}:\n${tailOf(result.output, 10)}`,
    );
  }
  return repoDb;
}

async function writeBuildSummary(
  built: BuildResult,
  version: string,
  vcs: VcsFacts | undefined,
  repoDb: string | undefined,
  signer: Signer | undefined,
): Promise<void> {
  const facts: Array<[string, string]> = [['version', version]];
  if (signer) facts.push(['signed by', `${signer.key.fingerprint} (${signer.key.userId})`]);
  if (vcs) {
    facts.push(
      [
        'vcs',
        `${vcs.vcs} revision ${vcs.revision}, ${vcs.hash}${vcs.tag ? `, tag ${vcs.tag}` : ''}`,
      ],
      ['commit time', vcs.commitTime],
    );
  }
  if (repoDb) facts.push(['repository', repoDb]);
  await writeSummary(`build-package: ${built.pkgbuild.pkgbase} ${version}`, facts, [
    {
      title: 'Packages',
      headers: ['name', 'version', 'arch', 'size', 'sha256', 'depends'],
      rows: built.packages.map((entry) => [
        entry.info.name,
        entry.info.version,
        entry.info.arch,
        `${humanBytes(entry.size)} (installed ${humanBytes(entry.info.installedSize)})`,
        entry.sha256,
        entry.info.depends.join(' ') || '-',
      ]),
    },
  ]);
}
