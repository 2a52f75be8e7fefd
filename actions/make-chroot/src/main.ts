import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, UserError } from '../../core/src/errors.js';
import { tailOf } from '../../core/src/exec.js';
import {
  checkOutputPath,
  directorySize,
  exists,
  humanBytes,
  isAbsentOrEmptyDir,
  removeLeftoverTemporaries,
  temporarySibling,
  sha256File,
  withPrivateTempDir,
} from '../../core/src/files.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import {
  MANIFEST_PATH_IN_ROOT,
  SBOM_CYCLONEDX_PATH_IN_ROOT,
  SBOM_SPDX_PATH_IN_ROOT,
  readAppInfo,
  type AppInfo,
  type Manifest,
} from '../../core/src/manifest.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import {
  clampInstallDates,
  describeTargetProblems,
  findFileProviders,
  type FileProvider,
  localDirectoryOf,
  makeLocalRepo,
  pacmanConf,
  parseScriptletFailures,
  parseTargetProblems,
  queryInstalled,
  runPacman,
  type InstalledPackage,
  type PacmanRepo,
} from './pacman.js';
import { isPackageFileName, readPackageInfo } from '../../core/src/pkginfo.js';
import {
  describeSignatureProblems,
  requireSignatures,
  withKeyring,
  type Keyring,
} from './keyring.js';
import {
  checkRootLibraries,
  type LibraryMiss,
  type LibraryReport,
} from '../../core/src/root-libraries.js';
import { sourceDateEpoch, writeTar } from '../../core/src/tar.js';
import { readLocalPackages, writeSboms } from './sbom.js';
import { installedPackageFiles, type InstalledFile } from './package-files.js';
import {
  INPUT_REPO_NAME,
  defaultRoot,
  installArgs,
  installTargets,
  noExtractFor,
  parseInputs,
  repositories,
  type Inputs,
} from './inputs.js';

interface PackageFile {
  file: string;
  name: string;
  version: string;
  app?: AppInfo;
}

/** make-chroot needs root: pacman writes root-owned files and sets their owners and modes. */
export function checkPrivileges(uid: number | undefined = process.getuid?.()): void {
  if (uid !== undefined && uid !== 0) {
    throw new UserError(
      'make-chroot must run as root (uid 0): pacman installs files owned by root with their ' +
        'modes. Run the job as root (a root container, or sudo), or under fakeroot.',
    );
  }
}

/**
 * Under fakeroot the files on disk belong to the real user, and Node's own stat calls are not
 * faked: the tarball then records every entry as owned by root (what fakeroot pretends).
 */
export function tarOwners(env: NodeJS.ProcessEnv = process.env): 'preserve' | 'root' {
  return env.FAKEROOTKEY ? 'root' : 'preserve';
}

async function readPackageFiles(inputs: Inputs): Promise<PackageFile[]> {
  const files: PackageFile[] = [];
  for (const file of inputs.packageFiles) {
    if (!(await exists(file))) {
      throw new InputError('package-files', `${file} does not exist.`);
    }
    const info = await readPackageInfo(file);
    if (info.arch !== 'any' && info.arch !== inputs.arch) {
      throw new InputError(
        'package-files',
        `${path.basename(file)} is built for ${info.arch}, not for arch ${inputs.arch}.`,
      );
    }
    if (files.some((other) => other.name === info.name)) {
      throw new InputError('package-files', `two files hold the package ${info.name}.`);
    }
    files.push({ file, name: info.name, version: info.version, app: await readAppInfo(file) });
  }
  return files;
}

/**
 * The manifest's `app` (pure): the named app, else the first package file build-package made.
 * `recordInRepos` is the app record found beside the named app's file in a local repository.
 */
export function appOf(
  appName: string | undefined,
  packageFiles: readonly PackageFile[],
  installed: readonly InstalledPackage[],
  recordInRepos?: AppInfo,
): AppInfo | undefined {
  const named = appName?.includes('/') ? appName.split('/').pop() : appName;
  const candidate =
    named === undefined
      ? packageFiles.find((file) => file.app !== undefined)
      : packageFiles.find((file) => file.name === named);
  const name = named ?? candidate?.app?.name;
  if (name === undefined) return undefined;
  const package_ = installed.find((entry) => entry.name === name);
  if (!package_) {
    throw new InputError('app', `"${name}" is not among the installed packages.`);
  }
  const record = candidate?.app ?? (recordInRepos?.name === name ? recordInRepos : undefined);
  const info = record ?? { name, version: package_.version, vcs: 'none' as const };
  return { ...info, name, version: package_.version };
}

/** The app record build-package left beside `name-version`'s file in a local repository. */
export async function findAppRecord(
  name: string,
  version: string,
  repos: readonly PacmanRepo[],
): Promise<AppInfo | undefined> {
  for (const repo of repos) {
    for (const server of repo.servers) {
      const dir = localDirectoryOf(server);
      if (dir === undefined) continue;
      let names: string[];
      try {
        names = await fs.readdir(dir);
      } catch {
        continue;
      }
      const prefix = `${name}-${version}-`;
      for (const file of names.sort()) {
        if (!file.startsWith(prefix) || !isPackageFileName(file)) continue;
        // name-version-arch.pkg.tar.*: the arch part must not hide a longer name.
        if (file.slice(prefix.length).includes('-')) continue;
        const record = await readAppInfo(path.join(dir, file));
        if (record) return record;
      }
    }
  }
  return undefined;
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The manifest (pure); `files` gives each package's file and sha256 where it was found. */
export function makeManifest(
  arch: string,
  app: AppInfo | undefined,
  installed: readonly InstalledPackage[],
  created: Date,
  files: ReadonlyMap<string, InstalledFile> = new Map(),
): Manifest {
  const manifest: Manifest = {
    schemaVersion: 1,
    arch,
    packages: installed.map(({ name, version, arch: packageArch, installedSize }) => ({
      name,
      version,
      arch: packageArch,
      installedSize,
      ...files.get(name),
    })),
    created: isoSeconds(created),
  };
  if (app) manifest.app = app;
  return manifest;
}

function describeRepo(repo: PacmanRepo): string {
  return `${repo.name} (${repo.servers.join(', ')})`;
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await fs.rmdir(dir);
  } catch {
    // not empty, or absent
  }
}

interface Made {
  installed: InstalledPackage[];
  manifest: Manifest;
  scriptletFailures: string[];
  /** Undefined with check-libraries: off. */
  libraries?: LibraryReport;
}

/** Installs into `rootDir` (the temporary sibling of the output root). */
async function makeRoot(
  inputs: Inputs,
  packageFiles: PackageFile[],
  rootDir: string,
  work: string,
): Promise<Made> {
  await fs.mkdir(rootDir, { recursive: true, mode: 0o755 });
  await fs.chmod(rootDir, 0o755);
  const dbPath = path.join(rootDir, 'var/lib/pacman');
  await fs.mkdir(dbPath, { recursive: true });

  const unsignedRepos = await prepareRepositories(inputs, packageFiles, work);
  const { configFile, repos, scriptletFailures } = await withKeyring(
    inputs.keyring,
    async (keyring) => {
      const repos = keyring ? requireSignatures(unsignedRepos, INPUT_REPO_NAME) : unsignedRepos;
      const configFile = await writePacmanConf(inputs, repos, rootDir, dbPath, work, keyring);
      const targets = installTargets(
        inputs,
        packageFiles.map((entry) => entry.name),
      );
      return { configFile, repos, scriptletFailures: await install(configFile, targets, repos) };
    },
  );
  const libraries =
    inputs.checkLibraries === 'off'
      ? undefined
      : await checkLibraries(rootDir, inputs.checkLibraries, configFile, work);

  // The sync databases are this run's working state, never part of the root.
  await fs.rm(path.join(dbPath, 'sync'), { recursive: true, force: true });
  const installed = queryInstalled(dbPath);
  const epoch = sourceDateEpoch();
  if (epoch !== undefined) await clampInstallDates(dbPath, epoch);
  // Read before the database may be removed: the SBOMs list what it records.
  const sbomPackages = await readLocalPackages(dbPath);
  if (!inputs.keepPackageDb) {
    await fs.rm(path.join(dbPath, 'local'), { recursive: true, force: true });
    await removeIfEmpty(dbPath);
    await removeIfEmpty(path.dirname(dbPath));
  }
  const created = epoch !== undefined ? new Date(epoch * 1000) : new Date();
  const localDirs = repos.flatMap((repo) => repo.servers.map(localDirectoryOf));
  const files = await installedPackageFiles(installed, [
    path.join(work, 'cache'),
    ...localDirs.filter((dir) => dir !== undefined),
  ]);
  const manifest = await writeManifest(inputs, packageFiles, installed, repos, rootDir, {
    created,
    files,
  });
  await writeSboms(rootDir, {
    arch: manifest.arch,
    app: manifest.app,
    created: manifest.created,
    packages: sbomPackages,
  });
  return { installed, manifest, scriptletFailures, libraries };
}

/** How many misses are named one by one in annotations and in the error; the log has them all. */
const MISSES_NAMED = 10;

/**
 * Checks that every program and library in the root can be loaded there. Each miss is logged with
 * the package that provides the library, when a repository's files database knows one; with
 * `error` a miss fails the step, with `warn` each is a warning.
 */
async function checkLibraries(
  rootDir: string,
  mode: 'error' | 'warn',
  configFile: string,
  work: string,
): Promise<LibraryReport> {
  return core.group('Check that the programs can load their libraries', async () => {
    const report = checkRootLibraries(rootDir);
    core.info(
      `${report.objects} ELF programs and libraries, ${report.references} interpreter and library references: ${report.misses.length} missing.`,
    );
    if (report.misses.length === 0) return report;
    const names = [...new Set(report.misses.map((miss) => path.posix.basename(miss.missing)))];
    const providers = await findFileProviders(configFile, path.join(work, 'files-db'), names);
    const described = report.misses.map((miss) => describeMiss(miss, providers));
    for (const line of described) core.info(line);
    const more =
      described.length > MISSES_NAMED
        ? ` (and ${described.length - MISSES_NAMED} more, listed in the log)`
        : '';
    if (mode === 'warn') {
      for (const line of described.slice(0, MISSES_NAMED)) core.warning(line);
      if (more) core.warning(`check-libraries: ${described.length} misses in all${more}.`);
      return report;
    }
    throw new UserError(
      `The root cannot run what it holds: ${described.slice(0, MISSES_NAMED).join('; ')}${more}. Add the packages that provide them, or set check-libraries: warn.`,
    );
  });
}

function describeMiss(miss: LibraryMiss, providers: FileProvider[]): string {
  const name = path.posix.basename(miss.missing);
  const holders = providers.filter((provider) => path.posix.basename(provider.file) === name);
  const inPackages =
    holders.length === 0
      ? ''
      : `, which ${[...new Set(holders.map((holder) => `${holder.name} (${holder.repo})`))].join(' or ')} provides`;
  const what = miss.kind === 'interpreter' ? 'its interpreter' : 'the library';
  return `${miss.object} needs ${what} ${miss.missing}, not in the root${inPackages}`;
}

/** Every repository to install from, the package files' own one made in `work`; each checked. */
async function prepareRepositories(
  inputs: Inputs,
  packageFiles: PackageFile[],
  work: string,
): Promise<PacmanRepo[]> {
  let inputRepoDir: string | undefined;
  if (packageFiles.length > 0) {
    inputRepoDir = path.join(work, 'input-repo');
    await makeLocalRepo(
      inputRepoDir,
      INPUT_REPO_NAME,
      packageFiles.map((entry) => entry.file),
    );
  }
  const repos = repositories(inputs, inputRepoDir);
  for (const repo of inputs.repos) {
    const dir = repo.servers[0] === undefined ? undefined : localDirectoryOf(repo.servers[0]);
    if (dir !== undefined && !(await exists(path.join(dir, `${repo.name}.db`)))) {
      throw new InputError(
        'repos',
        `${dir} has no ${repo.name}.db: it is not a pacman repository named ${repo.name} (make one with repo-add).`,
      );
    }
  }
  if (repos.length === 0) {
    throw new InputError('repos', 'no repository to install from: give repos, or a mirror.');
  }
  return repos;
}

/** The run's pacman.conf in `work`, with its own cache, hooks and log there. */
async function writePacmanConf(
  inputs: Inputs,
  repos: PacmanRepo[],
  rootDir: string,
  dbPath: string,
  work: string,
  keyring: Keyring | undefined,
): Promise<string> {
  for (const sub of ['cache', 'hooks']) await fs.mkdir(path.join(work, sub));
  const configFile = path.join(work, 'pacman.conf');
  await fs.writeFile(
    configFile,
    pacmanConf({
      rootDir,
      dbPath,
      cacheDir: path.join(work, 'cache'),
      hookDir: path.join(work, 'hooks'),
      logFile: path.join(work, 'pacman.log'),
      gpgDir: keyring?.gpgDir ?? inputs.gpgDir,
      arch: inputs.arch,
      sigLevel: keyring ? 'Required' : inputs.signatureLevel,
      localFileSigLevel: keyring ? 'Required' : 'Optional',
      noExtract: noExtractFor(inputs.strip),
      repos,
    }),
  );
  core.info(`Repositories, in order: ${repos.map(describeRepo).join('; ')}`);
  return configFile;
}

/** Installs `targets` and their dependencies; gives the packages whose scriptlet could not run. */
async function install(
  configFile: string,
  targets: string[],
  repos: PacmanRepo[],
): Promise<string[]> {
  // One pacman run synchronises and installs. When a target or a dependency is in no
  // repository, pacman stops while preparing the transaction, before anything is installed.
  const result = await runPacman(configFile, installArgs(targets), {
    group: `Install ${targets.join(', ')} and the dependencies`,
    allowFailure: true,
  });
  if (result.code !== 0) {
    const problems = parseTargetProblems(result.output);
    if (problems.missing.length + problems.unsatisfied.length > 0) {
      throw new UserError(describeTargetProblems(problems, repos.map(describeRepo)));
    }
    const refused = describeSignatureProblems(result.output);
    if (refused)
      throw new UserError(`pacman refused a signature, nothing was installed: ${refused}.`);
    throw new UserError(
      `pacman failed (exit ${result.code}) installing ${targets.join(', ')}:\n${tailOf(result.output, 20)}`,
    );
  }
  return parseScriptletFailures(result.stdout);
}

async function writeManifest(
  inputs: Inputs,
  packageFiles: PackageFile[],
  installed: InstalledPackage[],
  repos: PacmanRepo[],
  rootDir: string,
  { created, files }: { created: Date; files: ReadonlyMap<string, InstalledFile> },
): Promise<Manifest> {
  const namedApp = inputs.app?.split('/').pop();
  const namedVersion = installed.find((entry) => entry.name === namedApp)?.version;
  const recordInRepos =
    namedApp !== undefined && namedVersion !== undefined
      ? await findAppRecord(namedApp, namedVersion, repos)
      : undefined;
  const manifest = makeManifest(
    inputs.arch,
    appOf(inputs.app, packageFiles, installed, recordInRepos),
    installed,
    created,
    files,
  );
  const manifestFile = path.join(rootDir, MANIFEST_PATH_IN_ROOT);
  await fs.mkdir(path.dirname(manifestFile), { recursive: true });
  await fs.writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  return manifest;
}

function reportScriptletFailures(failures: readonly string[], allow: boolean): void {
  if (failures.length === 0) return;
  const message =
    `The install scriptlet of ${failures.join(', ')} could not run in the root ` +
    '(pacman printed "call to execv failed": the root has no shell for it).';
  if (allow) {
    core.warning(`${message} Continuing because allow-scriptlet-failures is true.`);
    return;
  }
  throw new UserError(
    `${message} Add the shell (e.g. bash) to packages, or set allow-scriptlet-failures: true.`,
  );
}

async function whyNotUsable(root: string): Promise<string> {
  try {
    await fs.readdir(root);
    return `${root} is not empty; give an empty or absent directory.`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return `${root} is a file; give an empty or absent directory.`;
    return `${root} cannot be read (${code ?? 'error'}); give an empty or absent directory this user can write.`;
  }
}

/** The output root, checked to be usable, and the tarball checked to be outside it. */
async function checkDestination(inputs: Inputs): Promise<string> {
  const root = inputs.root ?? defaultRoot(inputs.arch);
  if (!(await isAbsentOrEmptyDir(root))) {
    throw new InputError('root', await whyNotUsable(root));
  }
  if (inputs.tarball !== undefined) {
    if (path.resolve(inputs.tarball).startsWith(`${root}/`)) {
      throw new InputError('tarball', 'must not be inside the root.');
    }
    await checkOutputPath('tarball', inputs.tarball, 'file');
  }
  return root;
}

export async function run(): Promise<void> {
  const inputs = parseInputs(rawInputsFromEnv());
  checkPrivileges();
  const root = await checkDestination(inputs);
  const packageFiles = await core.group('Read the package files', () => readPackageFiles(inputs));

  for (const output of [root, inputs.tarball]) {
    if (output === undefined) continue;
    await fs.mkdir(path.dirname(output), { recursive: true });
    await removeLeftoverTemporaries(output, core.info);
  }
  const building = temporarySibling(root);
  const tarballTemporary =
    inputs.tarball === undefined ? undefined : temporarySibling(inputs.tarball);
  try {
    const made = await withPrivateTempDir('make-chroot', async (work) => {
      const result = await makeRoot(inputs, packageFiles, building, work);
      reportScriptletFailures(result.scriptletFailures, inputs.allowScriptletFailures);
      return result;
    });
    const sizeBytes = directorySize(building);
    // The tarball is written before the root is published, so that a run stopped while writing it
    // leaves only temporaries (removed by the next run) and no root a rerun would find "not empty".
    const tarballSha =
      tarballTemporary === undefined ? undefined : await writeTarball(building, tarballTemporary);
    await publishRoot(building, root);
    if (inputs.tarball !== undefined && tarballTemporary !== undefined) {
      await fs.rename(tarballTemporary, inputs.tarball);
      core.info(`${inputs.tarball}: sha256 ${tarballSha}`);
    }
    setOutputs({
      root,
      tarball: inputs.tarball ?? '',
      'tarball-sha256': tarballSha ?? '',
      manifest: path.join(root, MANIFEST_PATH_IN_ROOT),
      'sbom-spdx': path.join(root, SBOM_SPDX_PATH_IN_ROOT),
      'sbom-cyclonedx': path.join(root, SBOM_CYCLONEDX_PATH_IN_ROOT),
      packages: made.installed.map((entry) => `${entry.name} ${entry.version}`).join('\n'),
      'size-bytes': sizeBytes,
      'package-count': made.installed.length,
    });
    await writeRootSummary(inputs, root, made, sizeBytes, tarballSha);
  } finally {
    // Whatever happened, no temporary stays where a later step would take it for output.
    await fs.rm(building, { recursive: true, force: true });
    if (tarballTemporary !== undefined) await fs.rm(tarballTemporary, { force: true });
  }
}

/**
 * Moves the finished root into place. The root was checked empty or absent at the start; if it is
 * not now, another run made it meanwhile: that run's root is kept, this one's discarded.
 */
async function publishRoot(building: string, root: string): Promise<void> {
  try {
    await fs.rmdir(root).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await fs.rename(building, root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    throw new UserError(
      `${root} was made by another run while this one was building it: this run's root is discarded and ${root} is left as the other run made it.`,
    );
  }
}

/** Writes the root as a deterministic tarball at `file`; gives its sha256. */
function writeTarball(root: string, file: string): Promise<string> {
  return core.group('Write the tarball', async () => {
    const owners = tarOwners();
    if (owners === 'root') core.notice('Under fakeroot: every tarball entry is owned by 0:0.');
    await writeTar(root, file, { owners, mtimeClamp: sourceDateEpoch() });
    return sha256File(file);
  });
}

async function writeRootSummary(
  inputs: Inputs,
  root: string,
  made: Made,
  sizeBytes: number,
  tarballSha: string | undefined,
): Promise<void> {
  const totalInstalled = made.installed.reduce((sum, entry) => sum + entry.installedSize, 0);
  const largest = [...made.installed]
    .sort((a, b) => b.installedSize - a.installedSize || (a.name < b.name ? -1 : 1))
    .slice(0, 10);
  const facts: Array<[string, string]> = [
    ['Root', root],
    ['Arch', inputs.arch],
    ['Preset', inputs.preset],
    ['Packages', String(made.installed.length)],
    ['Size on disk', `${humanBytes(sizeBytes)} (${sizeBytes} bytes)`],
    ['Installed size of the packages', `${humanBytes(totalInstalled)} (${totalInstalled} bytes)`],
  ];
  if (made.manifest.app)
    facts.push(['App', `${made.manifest.app.name} ${made.manifest.app.version}`]);
  if (inputs.tarball !== undefined)
    facts.push(['Tarball', `${inputs.tarball} (sha256 ${tarballSha})`]);
  const libraries = made.libraries;
  facts.push([
    'Libraries checked',
    libraries === undefined
      ? 'no (check-libraries: off)'
      : `${libraries.objects} ELF programs and libraries, ${libraries.references} references, ${libraries.misses.length} missing`,
  ]);
  await writeSummary('make-chroot', facts, [
    {
      title: 'Packages',
      headers: ['Package', 'Version', 'Arch', 'Installed size'],
      rows: made.installed.map((entry) => [
        entry.name,
        entry.version,
        entry.arch,
        humanBytes(entry.installedSize),
      ]),
    },
    {
      title: 'Largest packages',
      headers: ['Package', 'Installed size'],
      rows: largest.map((entry) => [entry.name, humanBytes(entry.installedSize)]),
    },
  ]);
}
