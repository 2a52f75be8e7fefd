// Publishes one action to its own mirror repository, so that `uses: arch-core/<action>@v1` works.
//
//   npm run release -- <action> <version> [--mirror URL] [--source-url URL]
//
// Refuses (exit 1, one line saying why, nothing pushed) when:
//   - <version> is not X.Y.Z, differs from actions/<action>/package.json, or CHANGELOG.md has no
//     `## X.Y.Z` heading;
//   - actions/<action>, actions/core, dist/<action> or LICENSE have uncommitted changes (the mirror
//     commit names the monorepo commit it was built from, so that commit must be what is shipped);
//   - dist/<action> is stale: the bundle is rebuilt (scripts/build.mjs <action>) and compared with
//     git; a difference is left in the work tree to commit;
//   - the mirror already has the tag vX.Y.Z: a published version is never rewritten;
//   - the tests fail (`npm test`, the project's one test command).
// Then it assembles the mirror tree — action.yml with runs.main pointing at dist/index.js, the
// bundle files under dist/, README.md, CHANGELOG.md, LICENSE — commits it on the mirror's main
// with the monorepo commit id in the message, creates the annotated tag vX.Y.Z, moves the major
// tag vX (only forward: a patch to an older line leaves vX and main alone), and pushes all of it
// in one atomic push. A mirror that is a local bare repository gets its HEAD set to main (one made
// with `git init --bare` points at master, and a clone would check out nothing).
//
// README.md and CHANGELOG.md are the monorepo's, with every relative link that leaves the
// action's folder (`../../workflows-examples/...`) turned into a link to that file in the
// monorepo at the released commit: <source URL>/blob/<commit>/<path> (tree/ for a directory).
// The source URL: --source-url URL, else ARCH_CORE_SOURCE_URL, else GITHUB_SERVER_URL/
// GITHUB_REPOSITORY (on a runner), else https://github.com/arch-core/arch-core.
//
// The mirror: --mirror URL, else ARCH_CORE_MIRROR_URL (`{action}` is replaced by the action's
// name, e.g. file:///srv/git/{action}.git), else https://github.com/arch-core/{action}.git.
//
// --skip-tests exists only for the release tool's own test suite, which runs releases of fixture
// actions many times over: it is refused unless ARCH_CORE_RELEASE_SELF_TEST=1 is set. Never use
// it to publish a real release.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { rewriteMirrorLinks } from './lib/mirror-links.js';
import { projectRoot } from './lib/project-root.js';
import { CommandFailed, redact, run } from './lib/run.js';

const DEFAULT_MIRROR = 'https://github.com/arch-core/{action}.git';
const DEFAULT_SOURCE_URL = 'https://github.com/arch-core/arch-core';
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

class Refusal extends Error {}

function refuse(message: string): never {
  throw new Refusal(message);
}

const git = (args: string[], cwd = projectRoot): string => run('git', args, { cwd });

/** A command that ran but failed; rethrows anything else (such as one that could not start). */
function ranAndFailed(error: unknown): CommandFailed {
  if (error instanceof CommandFailed && error.started) return error;
  throw error;
}

/** Whether a git command exits 0 (a non-zero exit is an answer, not a failure). */
function gitSucceeds(args: string[], cwd: string): boolean {
  try {
    git(args, cwd);
    return true;
  } catch (error) {
    ranAndFailed(error);
    return false;
  }
}

interface ReleaseOptions {
  mirror?: string;
  sourceUrl?: string;
  skipTests: boolean;
  help?: boolean;
}

function parseArgs(argv: string[]): { positional: string[]; options: ReleaseOptions } {
  const positional: string[] = [];
  const options: ReleaseOptions = { mirror: undefined, skipTests: false };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    if (arg === '--mirror') {
      options.mirror = argv[++index];
      if (!options.mirror) refuse('--mirror needs a URL.');
    } else if (arg.startsWith('--mirror=')) {
      options.mirror = arg.slice('--mirror='.length);
    } else if (arg === '--source-url') {
      options.sourceUrl = argv[++index];
      if (!options.sourceUrl) refuse('--source-url needs a URL.');
    } else if (arg.startsWith('--source-url=')) {
      options.sourceUrl = arg.slice('--source-url='.length);
    } else if (arg === '--skip-tests') {
      options.skipTests = true;
    } else if (arg === '--help' || arg === '-h') {
      options.help = true;
    } else if (arg.startsWith('-')) {
      refuse(`unknown option ${arg}.`);
    } else {
      positional.push(arg);
    }
  }
  return { positional, options };
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let index = 0; index < 3; index++) {
    if (pa[index] !== pb[index]) return (pa[index] as number) - (pb[index] as number);
  }
  return 0;
}

/** The tags of the mirror (name → object id); an empty or new mirror has none. */
function remoteTags(mirror: string): Map<string, string> {
  const stdout = git(['ls-remote', '--tags', '--refs', mirror]);
  const tags = new Map<string, string>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [id, ref] = line.split('\t') as [string, string];
    tags.set(ref.replace(/^refs\/tags\//, ''), id);
  }
  return tags;
}

/** action.yml for the mirror: every runs entry into ../../dist/<action>/ now points at dist/. */
function mirrorActionYml(source: string, action: string): string {
  const document = parseDocument(source);
  const [firstError] = document.errors;
  if (firstError) refuse(`actions/${action}/action.yml: ${firstError.message}`);
  const bundlePrefix = `../../dist/${action}/`;
  let main: string | undefined;
  for (const key of ['pre', 'main', 'post']) {
    const value = document.getIn(['runs', key]);
    if (value === undefined) continue;
    if (typeof value !== 'string' || !value.startsWith(bundlePrefix)) {
      refuse(
        `actions/${action}/action.yml: runs.${key} is ${JSON.stringify(value)}, not a file of ${bundlePrefix}.`,
      );
    }
    document.setIn(['runs', key], `dist/${value.slice(bundlePrefix.length)}`);
    if (key === 'main') main = value;
  }
  if (main === undefined) refuse(`actions/${action}/action.yml has no runs.main.`);
  return document.toString({ lineWidth: 0 });
}

function copyTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, target);
    else if (entry.isFile()) fs.copyFileSync(source, target);
    else refuse(`${path.relative(projectRoot, source)} is neither a file nor a directory.`);
  }
}

function usage(): string {
  return [
    'usage: npm run release -- <action> <version> [--mirror URL] [--source-url URL]',
    '  <action>   one of the folders of actions/ with an action.yml',
    '  <version>  X.Y.Z, equal to actions/<action>/package.json and a heading of its CHANGELOG.md',
    '  --mirror   the mirror repository (default: ARCH_CORE_MIRROR_URL or',
    `             ${DEFAULT_MIRROR}, {action} replaced)`,
    '  --source-url  the monorepo, for the links of README.md and CHANGELOG.md that leave the',
    '             action folder (default: ARCH_CORE_SOURCE_URL, GITHUB_SERVER_URL/GITHUB_REPOSITORY,',
    `             ${DEFAULT_SOURCE_URL})`,
    "  --skip-tests  only for the release tool's own tests (needs ARCH_CORE_RELEASE_SELF_TEST=1)",
  ].join('\n');
}

/** 1. The action exists, and its package.json and CHANGELOG.md name this version. */
function checkActionVersion(action: string, version: string): void {
  const actionDir = path.join(projectRoot, 'actions', action);
  const actions = fs
    .readdirSync(path.join(projectRoot, 'actions'))
    .filter((name) => fs.existsSync(path.join(projectRoot, 'actions', name, 'action.yml')))
    .sort();
  if (!actions.includes(action)) {
    refuse(`there is no action "${action}"; the actions are ${actions.join(', ')}.`);
  }
  if (!SEMVER.test(version)) refuse(`version "${version}" is not X.Y.Z (e.g. 1.0.0).`);
  const packageVersion = (
    JSON.parse(fs.readFileSync(path.join(actionDir, 'package.json'), 'utf8')) as {
      version?: string;
    }
  ).version;
  if (packageVersion !== version) {
    refuse(
      `actions/${action}/package.json says version ${packageVersion}, not ${version}: bump it first.`,
    );
  }
  const changelogFile = path.join(actionDir, 'CHANGELOG.md');
  const changelog = fs.existsSync(changelogFile) ? fs.readFileSync(changelogFile, 'utf8') : '';
  const heading = new RegExp(`^## \\[?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`, 'm');
  if (!heading.test(changelog)) {
    refuse(
      `actions/${action}/CHANGELOG.md has no "## ${version}" heading: say what changed first.`,
    );
  }
  for (const file of ['README.md', 'CHANGELOG.md']) {
    if (!fs.existsSync(path.join(actionDir, file))) refuse(`actions/${action}/${file} is missing.`);
  }
  if (!fs.existsSync(path.join(projectRoot, 'LICENSE'))) {
    refuse('LICENSE is missing at the project root.');
  }
}

/** 2. What is released is exactly a monorepo commit; returns its id. */
function committedSource(action: string): string {
  const shipped = [`actions/${action}`, 'actions/core', `dist/${action}`, 'LICENSE'];
  const dirty = git(['status', '--porcelain', '--', ...shipped]).trim();
  if (dirty) {
    refuse(`uncommitted changes in what would be released; commit them first:\n${dirty}`);
  }
  return git(['rev-parse', 'HEAD']).trim();
}

/** 3. The committed bundle is what the source builds to. */
function checkBundleCurrent(action: string): void {
  console.log(`release: rebuilding dist/${action} to check that the committed bundle is current`);
  try {
    run(process.execPath, [path.join(projectRoot, 'scripts', 'build.mjs'), action], {
      cwd: projectRoot,
    });
  } catch (error) {
    const { stdout, stderr } = ranAndFailed(error);
    refuse(`building dist/${action} failed:\n${(stdout + stderr).trim()}`);
  }
  const stale = git(['status', '--porcelain', '--', `dist/${action}`]).trim();
  if (stale) {
    refuse(
      `dist/${action} is stale: the rebuilt bundle differs from the committed one. ` +
        `Commit the rebuilt dist/${action} (now in the work tree) and release again.\n${stale}`,
    );
  }
}

interface TagPlan {
  mirror: string;
  tag: string;
  major: string;
  /** No version of the mirror is newer: main advances. */
  newest: boolean;
  /** No version of this major line is newer: vX moves. */
  newestOfMajor: boolean;
}

/** 4. The mirror, and where this version goes among the version tags it already has. */
function planTags(action: string, version: string, options: ReleaseOptions): TagPlan {
  const template = options.mirror ?? process.env.ARCH_CORE_MIRROR_URL ?? DEFAULT_MIRROR;
  const mirror = template.replaceAll('{action}', action);
  const tag = `v${version}`;
  const major = `v${version.split('.')[0]}`;
  const tags = remoteTags(mirror);
  if (tags.has(tag)) {
    refuse(
      `${redact(mirror)} already has ${tag}; a published version is never rewritten. Release a new version.`,
    );
  }
  const versions = [...tags.keys()]
    .filter((name) => /^v\d+\.\d+\.\d+$/.test(name))
    .map((name) => name.slice(1));
  const newest = versions.every((other) => compareVersions(version, other) > 0);
  const newestOfMajor = versions
    .filter((other) => other.split('.')[0] === version.split('.')[0])
    .every((other) => compareVersions(version, other) > 0);
  return { mirror, tag, major, newest, newestOfMajor };
}

/** 5. The tests. */
function runTests(skipTests: boolean): void {
  if (skipTests) {
    console.log('release: WARNING: tests skipped (--skip-tests, release tool self-test)');
    return;
  }
  console.log('release: running the tests (npm test)');
  try {
    run('npm', ['test'], { cwd: projectRoot, inherit: true });
  } catch (error) {
    refuse(`the tests failed (npm test exited ${ranAndFailed(error).code}); nothing was released.`);
  }
}

/** The monorepo's web URL, for the links that leave the action's folder. */
function sourceUrl(options: ReleaseOptions): string {
  const { ARCH_CORE_SOURCE_URL, GITHUB_SERVER_URL, GITHUB_REPOSITORY } = process.env;
  if (options.sourceUrl) return options.sourceUrl;
  if (ARCH_CORE_SOURCE_URL) return ARCH_CORE_SOURCE_URL;
  if (GITHUB_SERVER_URL && GITHUB_REPOSITORY) return `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}`;
  return DEFAULT_SOURCE_URL;
}

/** An action's Markdown file for the mirror: the links leaving its folder into the monorepo. */
function writeMirrorMarkdown(
  file: string,
  work: string,
  action: string,
  commit: string,
  url: string,
): void {
  const text = fs.readFileSync(path.join(projectRoot, 'actions', action, file), 'utf8');
  let rewritten: string;
  try {
    rewritten = rewriteMirrorLinks(text, {
      folder: `actions/${action}`,
      sourceUrl: url,
      commit,
      isDirectory: (repoPath) =>
        fs.statSync(path.join(projectRoot, repoPath), { throwIfNoEntry: false })?.isDirectory() ??
        false,
    });
  } catch (error) {
    refuse(`actions/${action}/${file}: ${(error as Error).message}`);
  }
  fs.writeFileSync(path.join(work, file), rewritten);
}

/** 6a. The mirror's history checked out in `work`, its tree replaced by this release's files. */
function assembleMirrorTree(
  work: string,
  action: string,
  mirror: string,
  source: { commit: string; url: string },
): void {
  const actionDir = path.join(projectRoot, 'actions', action);
  git(['clone', '--quiet', '--no-checkout', mirror, work]);
  if (gitSucceeds(['rev-parse', '--verify', '--quiet', 'refs/remotes/origin/main'], work)) {
    git(['checkout', '--quiet', '-B', 'release', 'origin/main'], work);
  } else {
    git(['checkout', '--quiet', '--orphan', 'release'], work);
  }
  git(['rm', '-r', '--quiet', '--ignore-unmatch', '.'], work);
  for (const entry of fs.readdirSync(work)) {
    if (entry !== '.git') fs.rmSync(path.join(work, entry), { recursive: true, force: true });
  }
  const actionYml = fs.readFileSync(path.join(actionDir, 'action.yml'), 'utf8');
  fs.writeFileSync(path.join(work, 'action.yml'), mirrorActionYml(actionYml, action));
  copyTree(path.join(projectRoot, 'dist', action), path.join(work, 'dist'));
  for (const file of ['README.md', 'CHANGELOG.md']) {
    writeMirrorMarkdown(file, work, action, source.commit, source.url);
  }
  fs.copyFileSync(path.join(projectRoot, 'LICENSE'), path.join(work, 'LICENSE'));
  const main = parseDocument(fs.readFileSync(path.join(work, 'action.yml'), 'utf8')).getIn([
    'runs',
    'main',
  ]) as string;
  if (!fs.existsSync(path.join(work, main))) {
    refuse(`the mirror's runs.main (${main}) does not exist in the tree.`);
  }
  git(['add', '--all'], work);
}

/** 6b. Commits the tree, tags it, and pushes it all in one atomic push. */
function commitTagAndPush(work: string, action: string, commit: string, plan: TagPlan): void {
  const { mirror, tag, major, newest, newestOfMajor } = plan;
  const identity: string[] = [];
  let userName = '';
  try {
    userName = git(['config', 'user.name'], work).trim();
  } catch (error) {
    ranAndFailed(error); // no user.name configured
  }
  if (!userName) {
    identity.push(
      '-c',
      'user.name=arch-core release',
      '-c',
      'user.email=release@arch-core.invalid',
    );
  }
  const message = [
    `${action} ${tag}`,
    '',
    `Built from arch-core commit ${commit} (actions/${action} and dist/${action}).`,
    '',
    `Source-Commit: ${commit}`,
  ].join('\n');
  git([...identity, 'commit', '--quiet', '--allow-empty', '-m', message], work);
  const released = git(['rev-parse', 'HEAD'], work).trim();
  const tagMessage = `${action} ${tag}\n\nBuilt from arch-core commit ${commit}.`;
  git([...identity, 'tag', '-a', tag, '-m', tagMessage], work);
  const refspecs = [`refs/tags/${tag}:refs/tags/${tag}`];
  if (newest) refspecs.unshift(`${released}:refs/heads/main`);
  if (newestOfMajor) {
    git([...identity, 'tag', '-a', '-f', major, '-m', `${action} ${major}: ${tag}`], work);
    refspecs.push(`+refs/tags/${major}:refs/tags/${major}`);
  }
  // One atomic push: the version tag is never forced (the mirror refuses to overwrite it),
  // only the major tag moves.
  git(['push', '--quiet', '--atomic', mirror, ...refspecs], work);

  console.log(`release: ${action} ${tag} → ${redact(mirror)}`);
  console.log(`release:   commit ${released} (from arch-core ${commit})`);
  console.log(
    `release:   tag ${tag}${newestOfMajor ? `, ${major} moved to it` : `; ${major} stays (a newer ${major}.x exists)`}`,
  );
  console.log(`release:   main ${newest ? 'advanced' : 'unchanged (a newer version exists)'}`);
}

/** A local bare path of the mirror URL (a path or file://), else undefined. */
function localMirrorDir(mirror: string): string | undefined {
  if (mirror.startsWith('file://')) return new URL(mirror).pathname;
  return /^[a-z][a-z0-9+.-]*:/i.test(mirror) || /^[^/]+@[^/]+:/.test(mirror) ? undefined : mirror;
}

/**
 * 7. A clone checks out what HEAD names: a local mirror gets HEAD → main (one made with
 * `git init --bare` names master); a hosted one is checked, since its default branch is set on
 * the host.
 */
function pointHeadAtMain(plan: TagPlan): void {
  const dir = localMirrorDir(plan.mirror);
  if (dir !== undefined) {
    git(['--git-dir', dir, 'symbolic-ref', 'HEAD', 'refs/heads/main']);
    console.log('release:   HEAD → main');
    return;
  }
  const head = git(['ls-remote', '--symref', plan.mirror, 'HEAD']);
  if (!/^ref: refs\/heads\/main\tHEAD$/m.test(head)) {
    console.log(
      `release: WARNING: ${redact(plan.mirror)}'s default branch is not main: set it on the host, or a clone checks out nothing.`,
    );
  }
}

function release(argv: string[]): void {
  const { positional, options } = parseArgs(argv);
  if (options.help) {
    console.log(usage());
    return;
  }
  if (positional.length !== 2) refuse(`expected <action> <version>.\n${usage()}`);
  if (options.skipTests && process.env.ARCH_CORE_RELEASE_SELF_TEST !== '1') {
    refuse(
      "--skip-tests is only for the release tool's own tests (ARCH_CORE_RELEASE_SELF_TEST=1); a release runs the tests.",
    );
  }
  const [action, version] = positional as [string, string];
  checkActionVersion(action, version);
  const commit = committedSource(action);
  checkBundleCurrent(action);
  const plan = planTags(action, version, options);
  runTests(options.skipTests);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `arch-core-release-${action}-`));
  try {
    assembleMirrorTree(work, action, plan.mirror, { commit, url: sourceUrl(options) });
    commitTagAndPush(work, action, commit, plan);
    pointHeadAtMain(plan);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

try {
  release(process.argv.slice(2));
} catch (error) {
  if (error instanceof Refusal || error instanceof CommandFailed) {
    console.error(`release: refused: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
