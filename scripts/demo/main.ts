import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { messageOf } from '../../actions/core/src/errors.js';
import { runPipeline, type Arch, type OwnApp } from './pipeline.js';

/**
 * `bash scripts/demo.sh`: the main job, end to end, on the bundled example app. Prints each
 * stage as it goes and a final summary; stops every process it started, also on failure or
 * Ctrl-C. DEMO_ARCH=x86_64 builds for x86_64 instead of i686; DEMO_KEEP=1 keeps the work dir.
 * `--app PATH [--repo NAME=DIR]... [--cmd JSON] [--run JSON]` rehearses the user's own app
 * (docs/rehearse-own-app.md).
 */

const USAGE =
  'usage: bash scripts/demo.sh [--app PATH [--repo NAME=DIR]... [--cmd JSON] [--run JSON]]';

/** The command line: nothing (the example) or the user's app. */
function parseArgs(args: string[]): OwnApp | undefined {
  const app: Partial<OwnApp> & { repos: string[] } = { repos: [] };
  for (let index = 0; index < args.length; index += 2) {
    const [flag, value] = [args[index], args[index + 1]];
    if (value === undefined) throw new Error(USAGE);
    if (flag === '--app') app.dir = value;
    else if (flag === '--repo') app.repos.push(value);
    else if (flag === '--cmd') app.cmd = value;
    else if (flag === '--run') app.runCmd = value;
    else throw new Error(`${flag}? ${USAGE}`);
  }
  if (app.dir === undefined) {
    if (args.length > 0) throw new Error(`--repo, --cmd and --run go with --app. ${USAGE}`);
    return undefined;
  }
  return app as OwnApp;
}

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error(`clean-up: ${messageOf(error)}`));
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping what the demo started...`);
    void cleanUp().then(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const arch = (process.env.DEMO_ARCH ?? 'i686') as Arch;
  if (arch !== 'i686' && arch !== 'x86_64') {
    console.error(`DEMO_ARCH "${arch}" is not i686 or x86_64.`);
    return 1;
  }
  let app: OwnApp | undefined;
  try {
    app = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(messageOf(error));
    return 1;
  }
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'arch-core-demo-'));
  await fs.chmod(workDir, 0o755); // the build user must reach the app's copy
  if (!process.env.DEMO_KEEP) {
    cleanups.push(() => fs.rm(workDir, { recursive: true, force: true }));
  }
  const started = Date.now();
  try {
    const result = await runPipeline({
      workDir,
      arch,
      app,
      say: (line) => console.log(line),
      onCleanup: (cleanup) => cleanups.push(cleanup),
    });
    console.log('\n==> Summary');
    for (const line of result.summaryLines) console.log(`  ${line}`);
    console.log('\n  stage                          seconds');
    for (const stage of result.stages) {
      console.log(`  ${stage.name.padEnd(30)} ${stage.seconds.toFixed(1).padStart(7)}`);
    }
    console.log(
      `  ${'total'.padEnd(30)} ${((Date.now() - started) / 1000).toFixed(1).padStart(7)}`,
    );
    if (process.env.DEMO_KEEP) console.log(`\nKept: ${workDir} (logs in ${result.logsDir})`);
    return 0;
  } catch (error) {
    console.error(`\ndemo failed: ${messageOf(error)}`);
    if (!process.env.DEMO_KEEP) console.error('(set DEMO_KEEP=1 to keep the logs and files)');
    return 1;
  } finally {
    await cleanUp();
  }
}

void main().then((code) => process.exit(code));
