// Publishes one action to its own mirror repository, so that `uses: arch-core/<action>@v1` works.
//
//   npm run release -- <action> <version> [--mirror URL]
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
// in one atomic push.
//
// The mirror: --mirror URL, else ARCH_CORE_MIRROR_URL (`{action}` is replaced by the action's
// name, e.g. file:///srv/git/{action}.git), else https://github.com/arch-core/{action}.git.
//
// --skip-tests exists only for the release tool's own test suite, which runs releases of fixture
// actions many times over: it is refused unless ARCH_CORE_RELEASE_SELF_TEST=1 is set. Never use
// it to publish a real release.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_MIRROR = 'https://github.com/arch-core/{action}.git';
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

class Refusal extends Error {}

function refuse(message) {
  throw new Refusal(message);
}

/** Credentials in a URL never reach the log. */
function redact(url) {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? root,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    stdio: options.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    refuse(`${command} could not run: ${result.error.message}`);
  }
  if (result.status !== 0 && !options.allowFailure) {
    const tail = (result.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    refuse(
      `${command} ${args.map(redact).join(' ')} failed (exit ${result.status}): ${redact(tail)}`,
    );
  }
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

const git = (args, options) => run('git', args, options);

function parseArgs(argv) {
  const positional = [];
  const options = { mirror: undefined, skipTests: false };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--mirror') {
      options.mirror = argv[++index];
      if (!options.mirror) refuse('--mirror needs a URL.');
    } else if (arg.startsWith('--mirror=')) {
      options.mirror = arg.slice('--mirror='.length);
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

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let index = 0; index < 3; index++) {
    if (pa[index] !== pb[index]) return pa[index] - pb[index];
  }
  return 0;
}

/** The tags of the mirror (name → object id); an empty or new mirror has none. */
function remoteTags(mirror) {
  const { stdout } = git(['ls-remote', '--tags', '--refs', mirror]);
  const tags = new Map();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [id, ref] = line.split('\t');
    tags.set(ref.replace(/^refs\/tags\//, ''), id);
  }
  return tags;
}

/** action.yml for the mirror: every runs entry into ../../dist/<action>/ now points at dist/. */
export function mirrorActionYml(source, action) {
  const document = parseDocument(source);
  if (document.errors.length > 0)
    refuse(`actions/${action}/action.yml: ${document.errors[0].message}`);
  const bundlePrefix = `../../dist/${action}/`;
  let main;
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

function copyTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, target);
    else if (entry.isFile()) fs.copyFileSync(source, target);
    else refuse(`${path.relative(root, source)} is neither a file nor a directory.`);
  }
}

function usage() {
  return [
    'usage: npm run release -- <action> <version> [--mirror URL]',
    '  <action>   one of the folders of actions/ with an action.yml',
    '  <version>  X.Y.Z, equal to actions/<action>/package.json and a heading of its CHANGELOG.md',
    '  --mirror   the mirror repository (default: ARCH_CORE_MIRROR_URL or',
    `             ${DEFAULT_MIRROR}, {action} replaced)`,
    "  --skip-tests  only for the release tool's own tests (needs ARCH_CORE_RELEASE_SELF_TEST=1)",
  ].join('\n');
}

function release(argv) {
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
  const [action, version] = positional;

  // 1. The action and its version.
  const actionDir = path.join(root, 'actions', action);
  const actions = fs
    .readdirSync(path.join(root, 'actions'))
    .filter((name) => fs.existsSync(path.join(root, 'actions', name, 'action.yml')))
    .sort();
  if (!actions.includes(action)) {
    refuse(`there is no action "${action}"; the actions are ${actions.join(', ')}.`);
  }
  if (!SEMVER.test(version)) refuse(`version "${version}" is not X.Y.Z (e.g. 1.0.0).`);
  const packageVersion = JSON.parse(
    fs.readFileSync(path.join(actionDir, 'package.json'), 'utf8'),
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
  if (!fs.existsSync(path.join(root, 'LICENSE'))) refuse('LICENSE is missing at the project root.');

  // 2. What is released is exactly a monorepo commit.
  const shipped = [`actions/${action}`, 'actions/core', `dist/${action}`, 'LICENSE'];
  const dirty = git(['status', '--porcelain', '--', ...shipped]).stdout.trim();
  if (dirty) {
    refuse(`uncommitted changes in what would be released; commit them first:\n${dirty}`);
  }
  const commit = git(['rev-parse', 'HEAD']).stdout.trim();

  // 3. The committed bundle is what the source builds to.
  console.log(`release: rebuilding dist/${action} to check that the committed bundle is current`);
  const build = run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), action], {
    allowFailure: true,
  });
  if (build.code !== 0)
    refuse(`building dist/${action} failed:\n${(build.stdout + build.stderr).trim()}`);
  const stale = git(['status', '--porcelain', '--', `dist/${action}`]).stdout.trim();
  if (stale) {
    refuse(
      `dist/${action} is stale: the rebuilt bundle differs from the committed one. ` +
        `Commit the rebuilt dist/${action} (now in the work tree) and release again.\n${stale}`,
    );
  }

  // 4. The mirror, and the version tags it already has.
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

  // 5. The tests.
  if (options.skipTests) {
    console.log('release: WARNING: tests skipped (--skip-tests, release tool self-test)');
  } else {
    console.log('release: running the tests (npm test)');
    const tests = run('npm', ['test'], { inherit: true, allowFailure: true });
    if (tests.code !== 0)
      refuse(`the tests failed (npm test exited ${tests.code}); nothing was released.`);
  }

  // 6. The mirror tree, committed on top of the mirror's history.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `arch-core-release-${action}-`));
  try {
    git(['clone', '--quiet', '--no-checkout', mirror, work]);
    const hasMain =
      git(['rev-parse', '--verify', '--quiet', 'refs/remotes/origin/main'], {
        cwd: work,
        allowFailure: true,
      }).code === 0;
    if (hasMain) git(['checkout', '--quiet', '-B', 'release', 'origin/main'], { cwd: work });
    else git(['checkout', '--quiet', '--orphan', 'release'], { cwd: work });
    git(['rm', '-r', '--quiet', '--ignore-unmatch', '.'], { cwd: work });
    for (const entry of fs.readdirSync(work)) {
      if (entry !== '.git') fs.rmSync(path.join(work, entry), { recursive: true, force: true });
    }
    const actionYml = fs.readFileSync(path.join(actionDir, 'action.yml'), 'utf8');
    fs.writeFileSync(path.join(work, 'action.yml'), mirrorActionYml(actionYml, action));
    copyTree(path.join(root, 'dist', action), path.join(work, 'dist'));
    fs.copyFileSync(path.join(actionDir, 'README.md'), path.join(work, 'README.md'));
    fs.copyFileSync(changelogFile, path.join(work, 'CHANGELOG.md'));
    fs.copyFileSync(path.join(root, 'LICENSE'), path.join(work, 'LICENSE'));
    const main = parseDocument(fs.readFileSync(path.join(work, 'action.yml'), 'utf8')).getIn([
      'runs',
      'main',
    ]);
    if (!fs.existsSync(path.join(work, main)))
      refuse(`the mirror's runs.main (${main}) does not exist in the tree.`);
    git(['add', '--all'], { cwd: work });

    const identity = [];
    if (!git(['config', 'user.name'], { cwd: work, allowFailure: true }).stdout.trim()) {
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
    git([...identity, 'commit', '--quiet', '--allow-empty', '-m', message], { cwd: work });
    const released = git(['rev-parse', 'HEAD'], { cwd: work }).stdout.trim();
    git(
      [
        ...identity,
        'tag',
        '-a',
        tag,
        '-m',
        `${action} ${tag}\n\nBuilt from arch-core commit ${commit}.`,
      ],
      {
        cwd: work,
      },
    );
    const refspecs = [`refs/tags/${tag}:refs/tags/${tag}`];
    if (newest) refspecs.unshift(`${released}:refs/heads/main`);
    if (newestOfMajor) {
      git([...identity, 'tag', '-a', '-f', major, '-m', `${action} ${major}: ${tag}`], {
        cwd: work,
      });
      refspecs.push(`+refs/tags/${major}:refs/tags/${major}`);
    }
    // One atomic push: the version tag is never forced (the mirror refuses to overwrite it),
    // only the major tag moves.
    git(['push', '--quiet', '--atomic', mirror, ...refspecs], { cwd: work });

    console.log(`release: ${action} ${tag} → ${redact(mirror)}`);
    console.log(`release:   commit ${released} (from arch-core ${commit})`);
    console.log(
      `release:   tag ${tag}${newestOfMajor ? `, ${major} moved to it` : `; ${major} stays (a newer ${major}.x exists)`}`,
    );
    console.log(`release:   main ${newest ? 'advanced' : 'unchanged (a newer version exists)'}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    release(process.argv.slice(2));
  } catch (error) {
    if (error instanceof Refusal) {
      console.error(`release: refused: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}
