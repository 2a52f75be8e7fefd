import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { AuditResult } from '../../actions/make-iso/src/api.js';
import type { MachineReport } from '../../actions/deploy-fleet/src/api.js';
import { runActionLocally, type LocalRunResult } from '../../actions/cli/src/local-runner.js';
import { projectRoot } from '../lib/project-root.js';
import { run } from '../lib/run.js';
import { buildFixtureRepo } from '../../test/helpers/arch-packages.js';
import { startFleetCluster } from '../../test/helpers/fleet-standin.js';
import { podmanGlobalArgs, PODMAN_RUN_ARGS } from '../../test/helpers/import-image-podman.js';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';

/**
 * The whole pipeline on one machine, on the bundled example app: the path of `scripts/demo.sh`
 * and of the end-to-end test. Every stage runs an action's bundle exactly as a runner does
 * (INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) and hands its outputs to the next.
 *
 * What stands in for the outside world, and why:
 * - the example app's repository is a fresh Mercurial repository made from examples/hello;
 * - glibc (the app's one dependency) is packaged here from this machine's own C library, since
 *   no Arch Linux mirror is reachable; in production make-chroot takes it from the mirror;
 * - the registry is Debian's docker-registry on loopback;
 * - the cluster is the fleet API stand-in of the deploy-fleet tests (docs/dev/fleet-api.md),
 *   reached through a real OpenSSH server on loopback.
 */

export type Arch = 'x86_64' | 'i686';

/** The user's own app in place of examples/hello (`scripts/demo.sh --app PATH`). */
export interface OwnApp {
  /** Its directory: the PKGBUILD at the root of a git or Mercurial repository (copied first). */
  dir: string;
  /** More repositories for make-chroot, `name=directory` lines (packages built with build-package). */
  repos: string[];
  /** The image's command, JSON (default `["/usr/bin/<pkgname>"]`). */
  cmd?: string;
  /** The one-shot `podman run` command, JSON (default the image's command). */
  runCmd?: string;
}

export interface PipelineOptions {
  /** A directory of the pipeline's own (created; removed by the caller). */
  workDir: string;
  arch: Arch;
  /** The user's app; the bundled example when absent. */
  app?: OwnApp;
  /** Progress lines for a person to read. */
  say: (line: string) => void;
  /** Registers a clean-up to run at the end, also on failure or Ctrl-C. */
  onCleanup: (cleanup: () => Promise<void>) => void;
}

export interface StageResult {
  name: string;
  seconds: number;
  outputs: Record<string, string>;
}

export interface PipelineResult {
  stages: StageResult[];
  /** Keyed by stage name, each stage's outputs. */
  outputs: Record<string, Record<string, string>>;
  logsDir: string;
  /** The final summary, one fact a line. */
  summaryLines: string[];
}

/** Runs one action's bundle; a failure throws with the tail of its log. */
async function runStage(
  name: string,
  action: string,
  inputs: Record<string, string>,
  options: PipelineOptions,
  logsDir: string,
  stages: StageResult[],
): Promise<Record<string, string>> {
  options.say(`\n==> ${name} (${action})`);
  const started = Date.now();
  const result: LocalRunResult = await runActionLocally({
    actionDir: path.join(projectRoot, 'actions', action),
    bundle: path.join(projectRoot, 'dist', action, 'index.js'),
    inputs,
    env: { RUNNER_TEMP: path.join(options.workDir, 'runner-temp') },
  });
  const logFile = path.join(logsDir, `${action}.log`);
  await fs.writeFile(logFile, result.log);
  await fs.appendFile(path.join(logsDir, 'summary.md'), result.summary);
  const seconds = (Date.now() - started) / 1000;
  if (result.code !== 0) {
    const errors = result.log
      .split('\n')
      .filter((line) => line.startsWith('::error'))
      .map((line) => line.replace(/^::error[^:]*::/, '').replace(/%0A/g, '\n'));
    throw new Error(
      `${action} failed after ${seconds.toFixed(1)} s: ${errors.join('\n') || 'see the log'}\n(whole log: ${logFile})`,
    );
  }
  stages.push({ name, seconds, outputs: result.outputs });
  options.say(`    done in ${seconds.toFixed(1)} s (log: ${logFile})`);
  return result.outputs;
}

const DEMO_IDENTITY = { HGPLAIN: '1', HGUSER: 'arch-core demo <demo@example.invalid>' };

function hg(args: string[], cwd: string): string {
  return run('hg', args, { cwd, env: DEMO_IDENTITY });
}

/** The host's C library as a pacman package (see the note at the top). */
async function hostGlibcRepo(workDir: string, arch: Arch): Promise<string> {
  const files: Record<string, Uint8Array> = {};
  const modes: Record<string, number> = {};
  const take = async (from: string, to: string) => {
    files[to] = await fs.readFile(from);
    modes[to] = 0o755;
  };
  if (arch === 'x86_64') {
    await take('/lib64/ld-linux-x86-64.so.2', 'lib64/ld-linux-x86-64.so.2');
    await take('/lib/x86_64-linux-gnu/libc.so.6', 'lib/x86_64-linux-gnu/libc.so.6');
  } else {
    // Debian's 32-bit multilib loader looks for its libraries in /lib32.
    await take('/lib32/ld-linux.so.2', 'lib/ld-linux.so.2');
    await take('/lib32/libc.so.6', 'lib32/libc.so.6');
  }
  const repo = await buildFixtureRepo({
    dir: path.join(workDir, 'system'),
    arch,
    repoName: 'system',
    packages: [{ name: 'glibc', version: '2.36', files, modes }],
  });
  return repo.repoDir;
}

/**
 * Pulls the pushed image and runs it with podman the way it works in this container (vfs storage,
 * cgroupfs, runc, no network; docs/dev/tool-facts.md); returns what the app printed.
 */
function runImage(workDir: string, reference: string, arch: Arch, command: string[]): string {
  const podman = (args: string[]): string =>
    run('podman', [...podmanGlobalArgs(path.join(workDir, 'podman')), ...args]);
  const goArch = arch === 'i686' ? '386' : 'amd64';
  podman(['pull', '--quiet', '--tls-verify=false', '--arch', goArch, reference]);
  return podman(['run', ...PODMAN_RUN_ARGS, reference, ...command]).trim();
}

/** An SSH key pair for the cluster's `core` user (the demo's own, made with ssh-keygen). */
async function demoKeyPair(workDir: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(workDir, 'keys', 'id_ed25519');
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'arch-core-demo', '-f', file]);
  return {
    privateKey: await fs.readFile(file, 'utf8'),
    publicKey: (await fs.readFile(`${file}.pub`, 'utf8')).trim(),
  };
}

/** make-iso's `audit` output (role → result) as lines: role, point, pass/FAIL, title. */
function auditLines(auditJson: string): string[] {
  const audit = JSON.parse(auditJson) as Record<string, AuditResult>;
  return Object.values(audit).flatMap((result) =>
    result.points.map(
      (point) =>
        `${result.role.padEnd(6)} ${String(point.point).padStart(2)}  ${point.pass ? 'pass' : 'FAIL'}  ${point.title}`,
    ),
  );
}

type Outputs = Record<string, string>;
type Stage = (name: string, action: string, inputs: Outputs) => Promise<Outputs>;

/** A Mercurial repository of examples/hello in the work dir, tagged v1.0. */
async function exampleAppRepository(workDir: string, say: (line: string) => void): Promise<string> {
  const app = path.join(workDir, 'hello');
  await fs.cp(path.join(projectRoot, 'examples', 'hello'), app, { recursive: true });
  hg(['init', '-q'], app);
  hg(['add', '-q'], app);
  hg(['commit', '-q', '-m', 'The example app'], app);
  hg(['tag', 'v1.0'], app);
  say(`a Mercurial repository of examples/hello at ${app}, tagged v1.0`);
  return app;
}

/** A copy of the user's app (its .hg or .git too): nothing is written into their tree. */
async function ownAppRepository(app: OwnApp, workDir: string, say: (line: string) => void) {
  const copy = path.join(workDir, 'app');
  await fs.cp(path.resolve(app.dir), copy, { recursive: true });
  say(`your app: ${app.dir}, copied to ${copy}`);
  return copy;
}

/** The package's name from its file name, `<name>-<pkgver>-<pkgrel>-<arch>.pkg.tar.*`. */
function packageName(file: string): string {
  return path.basename(file).split('-').slice(0, -3).join('-');
}

async function buildPackage(stage: Stage, options: PipelineOptions, app: string): Promise<Outputs> {
  const built = await stage('Build the package', 'build-package', {
    path: app,
    arch: options.arch,
    repo: path.join(options.workDir, 'repo'),
    'repo-name': 'app',
  });
  options.say(`    package ${built.version}: ${built.packages}`);
  return built;
}

async function makeRoot(stage: Stage, options: PipelineOptions, built: Outputs): Promise<Outputs> {
  const { workDir, arch, say } = options;
  say('\n==> Package the C library of this machine as glibc (no Arch mirror here)');
  const systemRepo = await hostGlibcRepo(workDir, arch);
  const rooted = await stage('Make the minimal root', 'make-chroot', {
    'package-files': built.packages ?? '',
    repos: [`system=${systemRepo}`, ...(options.app?.repos ?? [])].join('\n'),
    mirror: 'none',
    arch,
    root: path.join(workDir, 'root'),
  });
  say(`    ${rooted['package-count']} packages, ${rooted['size-bytes']} bytes:`);
  for (const line of (rooted.packages ?? '').split('\n')) say(`      ${line}`);
  return rooted;
}

async function pushImage(
  stage: Stage,
  options: PipelineOptions,
  rooted: Outputs,
  app: { name: string; cmd: string },
): Promise<Outputs> {
  const { say } = options;
  const registry: TestRegistry = await startRegistry();
  options.onCleanup(() => registry.stop());
  say(`\nregistry: docker-registry on ${registry.address}`);
  const image = await stage('Make and push the image', 'import-image', {
    root: rooted.root ?? '',
    image: `${registry.address}/arch-core/${app.name}`,
    insecure: 'true',
    cmd: app.cmd,
  });
  say(`    ${image['image-ref']}`);
  say(`    tags: ${(image.tags ?? '').split('\n').join(', ')}`);
  const labels = (JSON.parse(image.metadata ?? '{}') as { labels?: Record<string, string> }).labels;
  for (const [key, value] of Object.entries(labels ?? {})) say(`    label ${key}=${value}`);
  return image;
}

async function writeClusterConfigs(stage: Stage, options: PipelineOptions): Promise<Outputs> {
  const { workDir, say } = options;
  const keys = await demoKeyPair(workDir);
  const cluster = await stage('Write the cluster configs', 'make-iso', {
    'ssh-authorized-keys': keys.publicKey,
    'master-address': '10.0.0.10',
    'fleet-metadata': 'env=demo',
    // A stand-in of zeros, as in workflows-examples/samples: the machines would refuse the
    // download; a real cluster gives the sha256 of the fleet release it pins.
    'fleet-sha256': '0'.repeat(64),
    output: path.join(workDir, 'cluster'),
  });
  say(`    master: ${cluster['master-cloud-config']}, ${cluster['master-iso']}`);
  say(`    slave:  ${cluster['slave-cloud-config']}, ${cluster['slave-iso']}`);
  say(`    VMware image: ${cluster['vmware-image-url'] || '(not resolved offline)'}`);
  say('    lock-down audit:');
  for (const line of auditLines(cluster.audit ?? '[]')) say(`      ${line}`);
  return cluster;
}

/** Deploys the image to a three-machine stand-in cluster; returns the outputs and state lines. */
async function deploy(
  stage: Stage,
  options: PipelineOptions,
  image: Outputs,
): Promise<{ deployed: Outputs; states: string[] }> {
  const { say } = options;
  // The cluster: three machines behind the master's SSH; agents reconcile every 2 s (5 s in
  // fleet) and take 1 s to start a container.
  const fleet = await startFleetCluster({
    machines: ['10.0.0.10', '10.0.0.11', '10.0.0.12'].map((address, index) => ({
      id: `${String(index + 1).repeat(8)}${'0'.repeat(24)}`,
      primaryIP: address,
      metadata: { env: 'demo', role: index === 0 ? 'master' : 'slave' },
    })),
    reconcileMs: 2000,
    startMs: 1000,
  });
  options.onCleanup(() => fleet.stop());
  say(`\ncluster: the fleet API stand-in, 3 machines, behind sshd on 127.0.0.1:${fleet.sshd.port}`);
  const deployed = await stage('Deploy to every machine', 'deploy-fleet', {
    ...fleet.inputs(),
    image: image['image-ref'] ?? '',
  });
  const states = (JSON.parse(deployed.states ?? '[]') as MachineReport[]).map(
    (state) =>
      `${state.machineID.slice(0, 12)}  ${state.address.padEnd(10)}  ${state.activeState}/${state.subState}  ${state.hash.slice(0, 12)}  ${state.secondsToRunning ?? '?'} s to running`,
  );
  say(
    `    ${deployed['unit-name']} on ${deployed.machines} machines in ${deployed['duration-seconds']} s`,
  );
  for (const state of states) say(`      ${state}`);
  say(
    `    update window: ${(await fleet.calls()).filter((call) => call.startsWith('sudo')).join('; ')}`,
  );
  return { deployed, states };
}

export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const { workDir, arch, say } = options;
  const logsDir = path.join(workDir, 'logs');
  await fs.mkdir(logsDir, { recursive: true });
  await fs.mkdir(path.join(workDir, 'runner-temp'), { recursive: true });
  const stages: StageResult[] = [];
  const outputs: Record<string, Outputs> = {};
  const stage: Stage = async (name, action, inputs) => {
    outputs[action] = await runStage(name, action, inputs, options, logsDir, stages);
    return outputs[action] as Outputs;
  };

  const own = options.app;
  say(`arch-core demo: ${own ? `your app ${own.dir}` : 'the example app'}, ${arch}, in ${workDir}`);
  const app = own
    ? await ownAppRepository(own, workDir, say)
    : await exampleAppRepository(workDir, say);
  const built = await buildPackage(stage, options, app);
  const name = packageName(built.packages?.split('\n')[0] ?? '');
  // The example runs as a service (deploy-fleet waits for running); its one-shot form greets.
  const cmd = own
    ? (own.cmd ?? JSON.stringify([`/usr/bin/${name}`]))
    : '["/usr/bin/hello", "--serve"]';
  const runCmd = JSON.parse(own ? (own.runCmd ?? cmd) : '["/usr/bin/hello"]') as string[];
  const rooted = await makeRoot(stage, options, built);
  const image = await pushImage(stage, options, rooted, { name, cmd });
  const cluster = await writeClusterConfigs(stage, options);
  const { deployed, states } = await deploy(stage, options, image);

  say('\n==> Run the image as a machine of the cluster would (podman pull + run)');
  const ranStarted = Date.now();
  const greeting = runImage(workDir, image['image-ref'] ?? '', arch, runCmd);
  const ranSeconds = (Date.now() - ranStarted) / 1000;
  stages.push({ name: 'Run the image', seconds: ranSeconds, outputs: { greeting } });
  say(`    the container printed: ${greeting}`);

  const summaryLines = [
    `app version     ${built.version} (r${built.revision}, ${built.hash})`,
    `package         ${path.basename(built.packages ?? '')}`,
    `root            ${rooted['package-count']} packages, ${rooted['size-bytes']} bytes`,
    `image           ${image['image-ref']}`,
    `layer           ${image['size-bytes']} bytes compressed`,
    `cluster configs ${cluster['master-iso']}, ${cluster['slave-iso']}`,
    `container says  ${greeting}`,
    `deployed        ${deployed['unit-name']} running on ${deployed.machines} machines`,
    ...states.map((state) => `  machine       ${state}`),
  ];
  return { stages, outputs, logsDir, summaryLines };
}
