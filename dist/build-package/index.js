import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
var __webpack_exports__ = {};

;// CONCATENATED MODULE: external "node:crypto"
const external_node_crypto_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");
;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");
;// CONCATENATED MODULE: ./actions/core/src/runner.ts



/** A command's data: the runner reads `%25`, `%0D` and `%0A` back as `%`, CR and LF. */
function escapeData(text) {
    return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
/** A property value, which also ends at `:` (the data follows `::`) and at `,` (the next one). */
function escapeProperty(text) {
    return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
/** How a value that is not a string is written: as JSON (undefined and null as nothing). */
function commandValue(value) {
    if (value === undefined || value === null)
        return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
}
/** One workflow command line (without its line break); properties without a value are left out. */
function commandLine(name, properties, data) {
    const pairs = Object.entries(properties)
        .filter(([, value]) => value !== undefined && value !== '')
        .map(([key, value]) => `${key}=${escapeProperty(String(value))}`);
    return `::${name}${pairs.length > 0 ? ` ${pairs.join(',')}` : ''}::${escapeData(data)}`;
}
function issue(name, properties, data) {
    process.stdout.write(`${commandLine(name, properties, data)}${external_node_os_namespaceObject.EOL}`);
}
/**
 * One `name<<DELIMITER` entry of GITHUB_OUTPUT or GITHUB_STATE. The delimiter is random, so a
 * value cannot end its entry early and set other names; one that contains it is refused.
 */
function fileCommandEntry(name, value, delimiter = `ghadelimiter_${(0,external_node_crypto_namespaceObject.randomUUID)()}`) {
    if (name.includes(delimiter) || value.includes(delimiter)) {
        throw new Error(`The value of "${name}" contains its delimiter "${delimiter}"; not written.`);
    }
    return `${name}<<${delimiter}${external_node_os_namespaceObject.EOL}${value}${external_node_os_namespaceObject.EOL}${delimiter}${external_node_os_namespaceObject.EOL}`;
}
/**
 * Sets `name` through the file the runner names in `GITHUB_<file>`; false when there is none
 * (a run outside a runner), and then the caller says it on stdout instead.
 */
function writeFileCommand(file, name, value) {
    const filePath = process.env[`GITHUB_${file}`];
    if (!filePath)
        return false;
    if (!external_node_fs_namespaceObject.existsSync(filePath))
        throw new Error(`GITHUB_${file} names ${filePath}, which is missing`);
    external_node_fs_namespaceObject.appendFileSync(filePath, fileCommandEntry(name, value), 'utf8');
    return true;
}
function info(message) {
    process.stdout.write(`${message}${external_node_os_namespaceObject.EOL}`);
}
/** Shown only when the run has step debug logging on. */
function debug(message) {
    issue('debug', {}, message);
}
function annotate(level, message, properties) {
    issue(level, {
        title: properties.title,
        file: properties.file,
        line: properties.startLine,
        endLine: properties.endLine,
        col: properties.startColumn,
        endColumn: properties.endColumn,
    }, message instanceof Error ? message.toString() : message);
}
function notice(message, properties = {}) {
    annotate('notice', message, properties);
}
function warning(message, properties = {}) {
    annotate('warning', message, properties);
}
function runner_error(message, properties = {}) {
    annotate('error', message, properties);
}
/** Logs `message` as an error annotation and makes the step fail when the process ends. */
function setFailed(message) {
    process.exitCode = 1;
    runner_error(message);
}
function startGroup(name) {
    issue('group', {}, name);
}
function endGroup() {
    issue('endgroup', {}, '');
}
/** Runs `fn` inside a collapsible group of the log. */
async function group(name, fn) {
    startGroup(name);
    try {
        return await fn();
    }
    finally {
        endGroup();
    }
}
/** From here on, the runner shows `***` for `secret` wherever it appears in the log. */
function setSecret(secret) {
    issue('add-mask', {}, secret);
}
function setOutput(name, value) {
    if (writeFileCommand('OUTPUT', name, commandValue(value)))
        return;
    // The command must start a line of its own.
    process.stdout.write(external_node_os_namespaceObject.EOL);
    issue('set-output', { name }, commandValue(value));
}
/** Saves `value` for the post step of this action, which reads it with getState. */
function saveState(name, value) {
    if (writeFileCommand('STATE', name, commandValue(value)))
        return;
    issue('save-state', { name }, commandValue(value));
}
/** What the main step saved under `name` (STATE_<name>), or '' in the main step itself. */
function getState(name) {
    return process.env[`STATE_${name}`] ?? '';
}
/**
 * The job summary (GITHUB_STEP_SUMMARY): HTML added to a buffer, appended to the file by
 * `write`. The texts are HTML as given: the caller escapes what it takes from elsewhere.
 */
class Summary {
    buffer = '';
    addHeading(text, level = 1) {
        const tag = Number.isInteger(level) && level >= 1 && level <= 6 ? `h${level}` : 'h1';
        return this.addLine(`<${tag}>${text}</${tag}>`);
    }
    addTable(rows) {
        const body = rows
            .map((row) => {
            const cells = row.map((cell) => {
                const { data, header } = typeof cell === 'string' ? { data: cell, header: false } : cell;
                const tag = header ? 'th' : 'td';
                return `<${tag}>${data}</${tag}>`;
            });
            return `<tr>${cells.join('')}</tr>`;
        })
            .join('');
        return this.addLine(`<table>${body}</table>`);
    }
    /** Appends what was added to the summary file and empties the buffer. */
    async write() {
        const filePath = process.env.GITHUB_STEP_SUMMARY;
        if (!filePath)
            throw new Error('GITHUB_STEP_SUMMARY is not set: this run has no job summary');
        await external_node_fs_namespaceObject.promises.appendFile(filePath, this.buffer, 'utf8');
        this.buffer = '';
        return this;
    }
    addLine(html) {
        this.buffer += `${html}${external_node_os_namespaceObject.EOL}`;
        return this;
    }
}
const runner_summary = new Summary();

;// CONCATENATED MODULE: ./actions/core/src/errors.ts
/**
 * A mistake the user can fix (bad input, missing tool, failing build): reported as one clear
 * message, without a stack trace. Anything else that is thrown is treated as a bug.
 */
class errors_UserError extends Error {
    name = 'UserError';
}
/** A bad action input: the message always names the input and says what would be right. */
class errors_InputError extends errors_UserError {
    input;
    name = 'InputError';
    constructor(input, problem) {
        super(`Input "${input}": ${problem}`);
        this.input = input;
    }
}
/** The message of anything thrown, whatever its type (a thrown string must fail the step too). */
function errors_messageOf(thrown) {
    if (thrown instanceof Error)
        return thrown.message || thrown.name;
    if (typeof thrown === 'string')
        return thrown;
    try {
        return JSON.stringify(thrown) ?? String(thrown);
    }
    catch {
        return String(thrown);
    }
}

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: ./actions/core/src/exec.ts




/** A command that ran and failed; a UserError since it is usually the user's input that failed. */
class ExecError extends errors_UserError {
    result;
    name = 'ExecError';
    constructor(message, result) {
        super(message);
        this.result = result;
    }
}
/** The last `count` non-empty lines of `text`. */
function tailOf(text, count) {
    return text
        .split(/\r?\n/)
        .filter((line) => line.trim() !== '')
        .slice(-count)
        .join('\n');
}
function quoteForLog(arg) {
    return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
function exec_commandLine(command, args) {
    return [command, ...args].map(quoteForLog).join(' ');
}
/**
 * Runs a command from an argument array (never through a shell), in its own log group, and
 * returns what it printed. A non-zero exit throws an ExecError carrying the tail of its output.
 */
async function exec(command, args, options = {}) {
    const line = exec_commandLine(command, args);
    const title = options.group ?? line;
    return group(title, async () => {
        if (options.group)
            info(`[command]${line}`);
        return execQuiet(command, args, options);
    });
}
/** The commands running now, for signalRunningCommands. */
const running = new Set();
/** The pids of `pid`'s descendants, from /proc (the actions run on Linux). */
function descendantsOf(pid) {
    const children = new Map();
    for (const entry of (0,external_node_fs_namespaceObject.readdirSync)('/proc')) {
        if (!/^\d+$/.test(entry))
            continue;
        try {
            // The parent pid is the second field after the ")" that ends the command's name.
            const stat = (0,external_node_fs_namespaceObject.readFileSync)(`/proc/${entry}/stat`, 'utf8');
            const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
            children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
        }
        catch {
            // The process ended meanwhile.
        }
    }
    const found = [];
    for (let pending = [pid]; pending.length > 0;) {
        const next = children.get(pending.pop()) ?? [];
        found.push(...next);
        pending.push(...next);
    }
    return found;
}
/**
 * Passes `signal` on to every command running now and to everything they started (a cancelled
 * step: runuser ignores SIGINT, and bash runs its trap only after its foreground command ends,
 * so the whole tree gets it, as a terminal's Ctrl-C would give it); resolves once the commands
 * exited, or after `graceMs`.
 */
async function signalRunningCommands(signal, graceMs) {
    const children = [...running];
    const exited = children.map((child) => new Promise((resolve) => child.once('close', () => resolve())));
    for (const child of children) {
        if (child.pid === undefined)
            continue;
        for (const pid of [child.pid, ...descendantsOf(child.pid)]) {
            try {
                process.kill(pid, signal);
            }
            catch {
                // Already gone.
            }
        }
    }
    let timer;
    const grace = new Promise((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(exited), grace]);
    clearTimeout(timer);
}
/** Like exec, without opening a log group (for use inside a group of the caller's). */
function execQuiet(command, args, options = {}) {
    return new Promise((resolve, reject) => {
        const child = (0,external_node_child_process_namespaceObject.spawn)(command, [...args], {
            cwd: options.cwd,
            env: options.env ?? process.env,
            stdio: ['pipe', 'pipe', 'pipe'],
            timeout: options.timeoutMs,
        });
        running.add(child);
        const stdout = [];
        const stderr = [];
        const output = [];
        const collect = (sink, echo) => (chunk) => {
            sink.push(chunk);
            output.push(chunk);
            if (!options.silent)
                echo.write(chunk);
        };
        child.stdout.on('data', collect(stdout, process.stdout));
        child.stderr.on('data', collect(stderr, process.stdout));
        child.stdin.on('error', () => undefined); // a command that does not read its input
        child.stdin.end(options.input ?? '');
        child.on('error', (error) => {
            running.delete(child);
            if (error.code === 'ENOENT') {
                const hint = options.missingHint ? `: ${options.missingHint}` : '';
                reject(new errors_UserError(`The command "${command}" is not installed${hint}.`));
            }
            else {
                reject(error);
            }
        });
        child.on('close', (code, signal) => {
            running.delete(child);
            const result = {
                code: code ?? 128,
                stdout: Buffer.concat(stdout).toString(),
                stderr: Buffer.concat(stderr).toString(),
                output: Buffer.concat(output).toString(),
            };
            if (result.code === 0 || options.allowFailure) {
                resolve(result);
                return;
            }
            const how = signal ? `was killed by ${signal}` : `exited with code ${result.code}`;
            const tail = tailOf(result.stderr.trim() ? result.stderr : result.output, options.tailLines ?? 20);
            reject(new ExecError(`${exec_commandLine(command, args)} ${how}${tail ? `:\n${tail}` : '.'}`, result));
        });
    });
}

;// CONCATENATED MODULE: ./actions/core/src/run.ts


const PLATFORM_NAMES = {
    darwin: 'macOS',
    win32: 'Windows',
};
/**
 * The failure of a run on anything but Linux (the actions drive Linux tools: makepkg, pacman,
 * mount, ...), said before anything else is read or run; undefined on Linux.
 */
function wrongPlatform(platform) {
    if (platform === 'linux')
        return undefined;
    return `arch-core actions run on Linux runners (this is ${PLATFORM_NAMES[platform] ?? platform})`;
}
/**
 * The entry of every action: fails at once off Linux; otherwise runs `main`, turns any throw
 * into a failed step, and exits explicitly so that a stray socket or timer cannot keep the job
 * hanging. `platform` is there for the tests.
 *
 * A UserError fails with its message only; a bug also logs its stack at debug level; an
 * AggregateError reports each of its causes.
 */
async function runAction(main, platform = process.platform) {
    const wrong = wrongPlatform(platform);
    if (wrong) {
        setFailed(wrong);
        return process.exit(1);
    }
    try {
        await main();
    }
    catch (thrown) {
        reportFailure(thrown);
    }
    return process.exit(process.exitCode ?? 0);
}
/** Fails the step for `thrown`, logging the way runAction does. */
function reportFailure(thrown) {
    if (thrown instanceof AggregateError && thrown.errors.length > 0) {
        for (const cause of thrown.errors)
            runner_error(errors_messageOf(cause));
    }
    if (!(thrown instanceof errors_UserError) && thrown instanceof Error && thrown.stack) {
        debug(thrown.stack);
    }
    setFailed(errors_messageOf(thrown));
}

;// CONCATENATED MODULE: ./actions/core/src/post.ts




/**
 * Post steps (`runs.post` in action.yml, docs/dev/contracts.md "Post steps"): the same bundle
 * runs twice. The main step saves `isPost` in GITHUB_STATE first thing, so the second run — the
 * post step, which the runner gives each saved name as STATE_<name> — knows it is the post step.
 * What the main step holds (an open update window, mounts, a build copy, temporaries) it records
 * with `hold` as soon as it holds it and clears with `release` once it gave it back, so the post
 * step cleans up only after a cancelled or failed run.
 */
const POST_FLAG = 'isPost';
/** How long a cancelled main step waits for the commands it runs to stop before it exits. */
const COMMANDS_GRACE_MS = 5_000;
function isPostStep() {
    return getState(POST_FLAG) === 'true';
}
/** Records that the main step holds `value` under `name` (JSON in GITHUB_STATE). */
function hold(name, value) {
    saveState(name, JSON.stringify(value));
}
/** Records that the main step gave back what it held under `name`. */
function release(name) {
    saveState(name, '');
}
/** In the post step: what the main step still held under `name` when it ended. */
function held(name) {
    const text = getState(name);
    return text ? JSON.parse(text) : undefined;
}
/**
 * The entry of an action with a post step: `main` in the main step, `post` in the post step.
 * A cancelled main step (SIGINT, SIGTERM) stops at once: it passes the signal on to the
 * commands it runs, waits for them briefly, and exits 130 / 143, leaving what it holds recorded
 * for the post step.
 */
function runActionWithPost(main, post) {
    if (isPostStep()) {
        void runAction(async () => {
            try {
                await post();
            }
            catch (error) {
                setFailed(`Cleaning up failed: ${errors_messageOf(error)}`);
            }
        });
        return;
    }
    saveState(POST_FLAG, 'true');
    process.once('SIGINT', () => void stopCancelled('SIGINT', 130));
    process.once('SIGTERM', () => void stopCancelled('SIGTERM', 143));
    void runAction(main);
}
async function stopCancelled(signal, code) {
    // A second signal while waiting below should not kill the process before it says so.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
    warning(`Cancelled (${signal}): stopping; the post step releases what this step holds.`);
    await signalRunningCommands(signal, COMMANDS_GRACE_MS);
    process.exit(code);
}

;// CONCATENATED MODULE: external "node:fs/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
;// CONCATENATED MODULE: ./actions/core/src/files.ts







/** Where an action may put temporary things: the runner's temp dir, else the system's. */
function tempRoot() {
    return process.env.RUNNER_TEMP || external_node_os_namespaceObject.tmpdir();
}
/** A new directory only its owner can enter (mode 0700), under `parent` (made if missing). */
async function makePrivateTempDir(prefix, parent = tempRoot()) {
    await promises_namespaceObject.mkdir(parent, { recursive: true });
    const dir = await promises_namespaceObject.mkdtemp(external_node_path_namespaceObject.join(parent, `${prefix}-`));
    await promises_namespaceObject.chmod(dir, 0o700);
    return dir;
}
/** Runs `work` with a private temp dir that is removed afterwards, whatever happens. */
async function withPrivateTempDir(prefix, work) {
    const dir = await makePrivateTempDir(prefix);
    try {
        return await work(dir);
    }
    finally {
        await fs.rm(dir, { recursive: true, force: true });
    }
}
/**
 * A sibling path for writing before a rename: same directory, so the rename is atomic. Hidden, and
 * named after the writer's pid, so that a later run can tell a killed run's leftovers
 * (removeLeftoverTemporaries) from a live run's work.
 */
function temporarySibling(target) {
    const suffix = `${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    return external_node_path_namespaceObject.join(external_node_path_namespaceObject.dirname(target), `${temporaryPrefix(target)}${suffix}`);
}
function temporaryPrefix(target) {
    return `.${external_node_path_namespaceObject.basename(target)}.tmp-`;
}
function processIsAlive(pid) {
    try {
        process.kill(pid, 0);
    }
    catch (error) {
        return error.code === 'EPERM';
    }
    // A killed process whose parent has not reaped it yet (a zombie, state Z) still answers
    // kill(0), but writes nothing any more: where no init reaps orphans, it stays so for good.
    try {
        const stat = (0,external_node_fs_namespaceObject.readFileSync)(`/proc/${pid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        return state !== 'Z' && state !== 'X';
    }
    catch {
        return true;
    }
}
/**
 * Removes the temporary siblings of `target` that a killed run left (their writer's pid is gone);
 * a live run's are left alone. Says what it removed through `log`. Returns the paths removed.
 */
async function removeLeftoverTemporaries(target, log) {
    const prefix = temporaryPrefix(target);
    const dir = external_node_path_namespaceObject.dirname(target);
    const names = await promises_namespaceObject.readdir(dir).catch(() => []);
    const removed = [];
    for (const name of names) {
        const pid = name.startsWith(prefix)
            ? /^(\d+)\./.exec(name.slice(prefix.length))?.[1]
            : undefined;
        if (pid === undefined || processIsAlive(Number(pid)))
            continue;
        const leftover = external_node_path_namespaceObject.join(dir, name);
        await promises_namespaceObject.rm(leftover, { recursive: true, force: true });
        log(`Removed ${leftover}, left by an earlier run that was stopped (pid ${pid}).`);
        removed.push(leftover);
    }
    return removed;
}
/**
 * The one way an action publishes output: `produce` writes a temporary sibling of `target` (a
 * file or a directory), which is then renamed into place. An existing directory at `target` is
 * moved aside first and removed after, so a reader sees the old whole or the new whole, never a
 * mix. On failure the temporary is removed and `target` is untouched.
 */
async function produceAtomically(target, produce) {
    await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(target), { recursive: true });
    await removeLeftoverTemporaries(target, info);
    const temporary = temporarySibling(target);
    try {
        const result = await produce(temporary);
        await renameReplacing(temporary, target);
        return result;
    }
    catch (error) {
        await promises_namespaceObject.rm(temporary, { recursive: true, force: true });
        throw error;
    }
}
async function renameReplacing(temporary, target) {
    const old = await promises_namespaceObject.lstat(target).catch(() => undefined);
    if (!old?.isDirectory()) {
        await promises_namespaceObject.rename(temporary, target);
        return;
    }
    const aside = temporarySibling(target);
    await promises_namespaceObject.rename(target, aside);
    try {
        await promises_namespaceObject.rename(temporary, target);
    }
    catch (error) {
        await promises_namespaceObject.rename(aside, target);
        throw error;
    }
    await promises_namespaceObject.rm(aside, { recursive: true, force: true });
}
/**
 * Replaces a set of files in `directory` as one unit that a reader can check: the files are
 * written in a private staging directory beside it (`.<name>.tmp-<pid>.*`, never inside it, and
 * removed by the next run when a killed run left it); then the set's checksum file (sha256sum
 * format, named `checksums`) is removed, each file renamed into place, and the checksum file
 * written last. A complete set is one whose checksum file exists and matches
 * (`sha256sum -c`); a run killed midway leaves no checksum file, never a false one.
 */
async function replaceFileSet(directory, checksums, produce) {
    await fs.mkdir(directory, { recursive: true });
    await removeLeftoverTemporaries(directory, core.info);
    const staging = temporarySibling(directory);
    await fs.mkdir(staging, { mode: 0o700 });
    try {
        const set = await produce(staging);
        const lines = [];
        for (const name of set.files)
            lines.push(`${await sha256File(path.join(staging, name))}  ${name}\n`);
        await fs.rm(path.join(directory, checksums), { force: true });
        const placed = {};
        for (const name of set.files) {
            await fs.rename(path.join(staging, name), path.join(directory, name));
            placed[name] = path.join(directory, name);
        }
        for (const name of set.obsolete ?? [])
            await fs.rm(path.join(directory, name), { force: true });
        await produceAtomically(path.join(directory, checksums), (temporary) => fs.writeFile(temporary, lines.join(''), { mode: 0o644 }));
        return placed;
    }
    finally {
        await fs.rm(staging, { recursive: true, force: true });
    }
}
async function sha256File(file) {
    const hash = (0,external_node_crypto_namespaceObject.createHash)('sha256');
    for await (const chunk of (0,external_node_fs_namespaceObject.createReadStream)(file))
        hash.update(chunk);
    return hash.digest('hex');
}
function sha256(data) {
    return createHash('sha256').update(data).digest('hex');
}
async function exists(target) {
    try {
        await promises_namespaceObject.lstat(target);
        return true;
    }
    catch {
        return false;
    }
}
/** The path's stat, or undefined when nothing is there (ENOTDIR: a file stands on the way). */
async function statOrUndefined(target) {
    try {
        return await fs.stat(target);
    }
    catch (error) {
        const code = error.code;
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return undefined;
        throw error;
    }
}
/**
 * Refuses, before any work is done, an output path that the step could not write at its end: a
 * directory where a file is to be written, a file where a directory is, or a path under a file.
 * `input` names the input in the error.
 */
async function checkOutputPath(input, target, kind) {
    const stat = await statOrUndefined(target);
    if (stat?.isDirectory() && kind === 'file') {
        throw new InputError(input, `"${target}" is a directory; give the path of a file to write.`);
    }
    if (stat && !stat.isDirectory() && kind === 'directory') {
        throw new InputError(input, `"${target}" is a file; give the path of a directory to write.`);
    }
    for (let parent = path.dirname(target);; parent = path.dirname(parent)) {
        const parentStat = await statOrUndefined(parent);
        if (parentStat === undefined)
            continue;
        if (!parentStat.isDirectory()) {
            throw new InputError(input, `"${parent}" is a file, so "${target}" cannot be made in it.`);
        }
        return;
    }
}
/** True when `dir` is absent or an empty directory. */
async function isAbsentOrEmptyDir(dir) {
    try {
        return (await fs.readdir(dir)).length === 0;
    }
    catch (error) {
        return error.code === 'ENOENT';
    }
}
/**
 * Total bytes of the regular files under `dir` (hard links counted once). Synchronous on purpose:
 * one awaited lstat a file costs a thread-pool round trip each (0.2–0.4 s for a 4,400-file root),
 * the same calls made in a row take a few milliseconds.
 */
function directorySize(dir) {
    const seen = new Set();
    let total = 0;
    const walk = (current) => {
        for (const entry of readdirSync(current, { withFileTypes: true })) {
            const full = path.join(current, entry.name);
            if (entry.isDirectory()) {
                walk(full);
            }
            else if (entry.isFile()) {
                const stat = lstatSync(full);
                const id = `${stat.dev}:${stat.ino}`;
                if (!seen.has(id)) {
                    seen.add(id);
                    total += stat.size;
                }
            }
        }
    };
    walk(dir);
    return total;
}
function humanBytes(bytes) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

;// CONCATENATED MODULE: external "node:net"
const external_node_net_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");
;// CONCATENATED MODULE: ./actions/core/src/host-port.ts


const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const HOST_PORT = new RegExp(`^(?:\\[([0-9A-Fa-f:.]+)\\]|(${LABEL}(?:\\.${LABEL})*))(?::(\\d+))?$`);
/** The one host[:port] parser; the error says what is wrong, the caller names the input. */
function parseHostPort(text, defaultPort) {
    const value = text.trim();
    const match = HOST_PORT.exec(value);
    if (!match) {
        throw new errors_UserError(`"${value}" is not host[:port] (a host name or IPv4 address, or [IPv6], optionally :port).`);
    }
    const port = match[3] === undefined ? defaultPort : Number(match[3]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new errors_UserError(`port "${match[3]}" is out of range; use 1 to 65535.`);
    }
    return { host: (match[1] ?? match[2]), port };
}
/** True when `text` has an explicit `:port`. */
function hasPort(text) {
    return /(?:^[^:[\]]+|\]):\d+$/.test(text.trim());
}
/** An input holding host[:port]; the error names the input. */
function hostPortInput(name, text, defaultPort) {
    try {
        return parseHostPort(text, defaultPort);
    }
    catch (error) {
        throw new InputError(name, messageOf(error));
    }
}
/** RFC 1918, shared (100.64/10) and link-local IPv4, ULA and link-local IPv6. */
function isPrivateAddress(host) {
    if (net.isIPv4(host)) {
        const [a, b] = host.split('.').map(Number);
        return (a === 10 ||
            (a === 172 && b >= 16 && b <= 31) ||
            (a === 192 && b === 168) ||
            (a === 100 && b >= 64 && b <= 127) ||
            (a === 169 && b === 254));
    }
    if (net.isIPv6(host))
        return /^f[cd]/i.test(host) || /^fe[89ab]/i.test(host);
    return false;
}

;// CONCATENATED MODULE: ./actions/core/src/image-ref.ts


const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** The registry part: host[:port] by the one host:port parser, which would forgive spaces. */
function isRegistryHostPort(text) {
    if (/\s/.test(text))
        return false;
    try {
        parseHostPort(text, 443);
        return true;
    }
    catch {
        return false;
    }
}
/** Parses a reference; the error says which part is wrong. `what` names it (an input). */
function parseImageReference(text, what = 'image') {
    let rest = text.trim();
    let digest;
    const at = rest.indexOf('@');
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!DIGEST.test(digest) || (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest))) {
            throw new errors_UserError(`${what} "${text}": "${digest}" is not a digest like sha256:<64 hex>.`);
        }
    }
    let tag;
    const lastSlash = rest.lastIndexOf('/');
    const colon = rest.indexOf(':', lastSlash + 1);
    if (colon >= 0) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
        if (!TAG.test(tag)) {
            throw new errors_UserError(`${what} "${text}": tag "${tag}" is not valid (letters, digits, _ . -, at most 128, not starting with . or -).`);
        }
    }
    let registry = 'docker.io';
    let repository = rest;
    const firstSlash = rest.indexOf('/');
    if (firstSlash >= 0) {
        const first = rest.slice(0, firstSlash);
        if (first.includes('.') ||
            first.includes(':') ||
            first === 'localhost' ||
            first.startsWith('[')) {
            registry = first;
            repository = rest.slice(firstSlash + 1);
            if (!isRegistryHostPort(registry)) {
                throw new errors_UserError(`${what} "${text}": "${registry}" is not a registry host[:port].`);
            }
        }
    }
    if (!REPOSITORY.test(repository) || repository.length > 255) {
        throw new errors_UserError(`${what} "${text}": repository "${repository}" is not valid (lower-case letters, digits, and . _ - between them, parts separated by /).`);
    }
    return { registry, repository, tag, digest };
}
function formatImageReference(reference) {
    const base = `${reference.registry}/${reference.repository}`;
    return `${base}${reference.tag ? `:${reference.tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`;
}
/** The last path component of the repository: the app's name (`team/app` → `app`). */
function imageBaseName(reference) {
    return reference.repository.split('/').pop();
}
/**
 * True for 127.0.0.0/8, ::1 and localhost (with or without a port): a registry only
 * the machine itself reaches (import-image allows it plain HTTP; deploy-fleet warns of it).
 */
function isLoopbackRegistry(registry) {
    const host = registry.startsWith('[')
        ? registry.slice(1, registry.indexOf(']'))
        : (registry.split(':')[0] ?? '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

;// CONCATENATED MODULE: ./actions/core/src/inputs.ts



/**
 * Strict readers of an action's inputs. Every action has a pure `parseInputs(raw)` built on
 * `inputReader`; each reader trims, and throws an InputError naming the input when the value
 * cannot be right. Defaults live only in action.yml (the runner, and the local runner, pass them
 * in), so a reader never invents one: an input that is absent and has no default is absent.
 */
const TRUE = ['true', 'True', 'TRUE', 'yes', 'on', '1'];
const FALSE = ['false', 'False', 'FALSE', 'no', 'off', '0'];
function parseBoundedInteger(name, value, bounds) {
    const range = `an integer from ${bounds.min} to ${bounds.max}`;
    if (!/^-?\d+$/.test(value))
        throw new errors_InputError(name, `"${value}" is not ${range}.`);
    const number = Number(value);
    if (number < bounds.min || number > bounds.max) {
        throw new errors_InputError(name, `${value} is out of range; use ${range}.`);
    }
    return number;
}
/** A multiline list: one item a line, blank lines and lines starting with `#` skipped. */
function parseList(text) {
    return text
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'));
}
function maskSecret(value) {
    setSecret(value);
    for (const line of value.split(/\r?\n/)) {
        if (line.trim().length >= 4)
            setSecret(line.trim());
    }
}
/** Every `INPUT_*` variable by input name (`INPUT_SSH-KEY` → `ssh-key`), as the runner sets them. */
function rawInputsFromEnv(env = process.env) {
    const raw = {};
    for (const [variable, value] of Object.entries(env)) {
        if (variable.startsWith('INPUT_') && value !== undefined) {
            raw[variable.slice('INPUT_'.length).toLowerCase()] = value;
        }
    }
    return raw;
}
function inputReader(raw) {
    const optional = (name) => {
        const value = (raw[name] ?? '').trim();
        return value === '' ? undefined : value;
    };
    const required = (name) => {
        const value = optional(name);
        if (value === undefined)
            throw new errors_InputError(name, 'is required and was not given.');
        return value;
    };
    return {
        optional,
        required,
        boolean: (name) => parseBoolean(name, required(name)),
        oneOf: (name, allowed) => parseOneOf(name, required(name), allowed),
        integer: (name, bounds) => parseBoundedInteger(name, required(name), bounds),
        optionalInteger: (name, bounds) => {
            const value = optional(name);
            return value === undefined ? undefined : parseBoundedInteger(name, value, bounds);
        },
        list: (name) => parseList(raw[name] ?? ''),
        keyValues: (name, keyPattern) => parseKeyValues(name, parseList(raw[name] ?? ''), keyPattern),
        secret: (name) => {
            const value = raw[name] ?? '';
            if (value.trim() === '')
                return undefined;
            maskSecret(value);
            return value;
        },
        image: (name) => parseImageInput(name, required(name)),
    };
}
function parseBoolean(name, value) {
    if (TRUE.includes(value))
        return true;
    if (FALSE.includes(value))
        return false;
    throw new errors_InputError(name, `"${value}" is not a boolean; use true or false.`);
}
function parseOneOf(name, value, allowed) {
    if (allowed.includes(value))
        return value;
    throw new errors_InputError(name, `"${value}" is not one of ${allowed.join(', ')}.`);
}
function parseKeyValues(name, lines, keyPattern = /^[^\s=]+$/) {
    return lines.map((line) => {
        const equals = line.indexOf('=');
        const key = equals > 0 ? line.slice(0, equals).trim() : '';
        if (equals <= 0 || !keyPattern.test(key)) {
            throw new errors_InputError(name, `line "${line}" is not of the form key=value.`);
        }
        return [key, line.slice(equals + 1).trim()];
    });
}
/** An image reference input; the error names the input and the part that is wrong. */
function parseImageInput(name, text) {
    try {
        return parseImageReference(text, 'reference');
    }
    catch (error) {
        throw new errors_InputError(name, errors_messageOf(error));
    }
}

;// CONCATENATED MODULE: ./actions/core/src/manifest.ts


const MANIFEST_PATH_IN_ROOT = 'usr/share/arch-core/manifest.json';
const APP_INFO_SUFFIX = '.arch-core.json';
/** make-chroot's bills of materials of the root, beside the manifest (docs/dev/sbom.md). */
const SBOM_SPDX_PATH_IN_ROOT = 'usr/share/arch-core/sbom.spdx.json';
const SBOM_CYCLONEDX_PATH_IN_ROOT = 'usr/share/arch-core/sbom.cdx.json';
function appInfoPathFor(packageFile) {
    return `${packageFile}${APP_INFO_SUFFIX}`;
}
/** Reads the AppInfo beside a package file, or undefined when build-package did not make it. */
async function readAppInfo(packageFile) {
    let text;
    try {
        text = await fs.readFile(appInfoPathFor(packageFile), 'utf8');
    }
    catch {
        return undefined;
    }
    const info = JSON.parse(text);
    if (typeof info.name !== 'string' || typeof info.version !== 'string') {
        throw new UserError(`${appInfoPathFor(packageFile)} is not an arch-core app record.`);
    }
    return info;
}
/** Parses and checks a manifest; the error names the file. */
function parseManifest(text, origin) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch (error) {
        throw new UserError(`${origin} is not valid JSON: ${error.message}`);
    }
    const manifest = value;
    if (manifest.schemaVersion !== 1) {
        throw new UserError(`${origin} is not an arch-core manifest of schemaVersion 1.`);
    }
    if (typeof manifest.arch !== 'string' || !Array.isArray(manifest.packages)) {
        throw new UserError(`${origin} lacks "arch" or "packages".`);
    }
    for (const entry of manifest.packages) {
        if (typeof entry?.name !== 'string' || typeof entry.version !== 'string') {
            throw new UserError(`${origin} has a package without a name or version.`);
        }
    }
    return manifest;
}
async function readManifest(file) {
    let text;
    try {
        text = await fs.readFile(file, 'utf8');
    }
    catch {
        throw new UserError(`The manifest ${file} cannot be read.`);
    }
    return parseManifest(text, file);
}

;// CONCATENATED MODULE: ./actions/core/src/outputs.ts

/** Sets every output and echoes it to the log, so a terminal run shows what a step hands on. */
function setOutputs(outputs) {
    for (const [name, value] of Object.entries(outputs)) {
        if (value === undefined)
            continue;
        setOutput(name, String(value));
    }
}
/**
 * Appends a heading, optional key/value facts and tables to the job summary. Outside a runner
 * (no GITHUB_STEP_SUMMARY) it prints the same content to the log instead.
 */
async function writeSummary(heading, facts, tables = []) {
    if (!process.env.GITHUB_STEP_SUMMARY) {
        info(`== ${heading}`);
        for (const [key, value] of facts)
            info(`${key}: ${value}`);
        for (const table of tables) {
            if (table.title)
                info(`-- ${table.title}`);
            info(table.headers.join(' | '));
            for (const row of table.rows)
                info(row.join(' | '));
        }
        return;
    }
    const summary = runner_summary.addHeading(heading, 3);
    if (facts.length > 0) {
        summary.addTable(facts.map(([key, value]) => [{ data: escapeHtml(key), header: true }, escapeHtml(value)]));
    }
    for (const table of tables) {
        if (table.title)
            summary.addHeading(table.title, 4);
        summary.addTable([
            table.headers.map((header) => ({ data: escapeHtml(header), header: true })),
            ...table.rows.map((row) => row.map((cell) => escapeHtml(String(cell)))),
        ]);
    }
    await summary.write();
}
function escapeHtml(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

;// CONCATENATED MODULE: ./actions/core/src/pkginfo.ts



/** Package file extensions pacman reads (and makepkg can write). */
const PACKAGE_FILE_PATTERN = /\.pkg\.tar(\.(xz|zst|gz|bz2|lz4|lzo|lz|Z))?$/;
function isPackageFileName(name) {
    return PACKAGE_FILE_PATTERN.test(external_node_path_namespaceObject.basename(name)) && !name.endsWith('.sig');
}
/** Parses the text of a `.PKGINFO`; `origin` names it in errors. */
function parsePkginfo(text, origin = '.PKGINFO') {
    const fields = {};
    for (const rawLine of text.split('\n')) {
        const line = rawLine.trim();
        if (line === '' || line.startsWith('#'))
            continue;
        const at = line.indexOf(' = ');
        // An empty value is written as "key = " and trimmed to "key =".
        const key = at >= 0 ? line.slice(0, at) : line.replace(/\s*=$/, '');
        const value = at >= 0 ? line.slice(at + 3) : '';
        if (at < 0 && !line.endsWith('=')) {
            throw new errors_UserError(`${origin}: "${line}" is not a "key = value" line.`);
        }
        (fields[key] ??= []).push(value);
    }
    const one = (key) => fields[key]?.[0];
    const list = (key) => (fields[key] ?? []).filter((value) => value !== '');
    const name = one('pkgname');
    const version = one('pkgver');
    const arch = one('arch');
    if (!name || !version || !arch) {
        throw new errors_UserError(`${origin} lacks pkgname, pkgver or arch: it is not a pacman package.`);
    }
    const size = Number(one('size') ?? '0');
    const buildDate = one('builddate');
    return {
        name,
        base: one('pkgbase') || name,
        version,
        description: one('pkgdesc') || undefined,
        url: one('url') || undefined,
        arch,
        installedSize: Number.isFinite(size) ? size : 0,
        packager: one('packager') || undefined,
        buildDate: buildDate && /^\d+$/.test(buildDate) ? Number(buildDate) : undefined,
        licenses: list('license'),
        groups: list('group'),
        depends: list('depend'),
        optDepends: list('optdepend'),
        makeDepends: list('makedepend'),
        checkDepends: list('checkdepend'),
        provides: list('provides'),
        conflicts: list('conflict'),
        replaces: list('replaces'),
        backup: list('backup'),
        fields,
    };
}
const BSDTAR_HINT = 'install the Debian package libarchive-tools (bsdtar)';
/** Reads the `.PKGINFO` of a package file. */
async function readPackageInfo(packageFile) {
    const result = await execQuiet('bsdtar', ['-xOf', packageFile, '.PKGINFO'], {
        silent: true,
        allowFailure: true,
        missingHint: BSDTAR_HINT,
    });
    if (result.code !== 0 || result.stdout.trim() === '') {
        const why = result.stderr.trim().split('\n')[0] || 'it has no .PKGINFO';
        throw new errors_UserError(`${packageFile} is not a readable pacman package: ${why}`);
    }
    return parsePkginfo(result.stdout, `${packageFile}: .PKGINFO`);
}

;// CONCATENATED MODULE: ./actions/build-package/src/artifact.ts
/**
 * The `upload-artifact` input is deprecated (removed in the next minor version): the artifact
 * client made three quarters of the bundle and needs a newer Node than the runner's, and the
 * workflow's own actions/upload-artifact step does the same. This is the warning a run that
 * still gives it prints; `stepId` is the step's `id:` when it has one (GITHUB_ACTION).
 */
function uploadArtifactDeprecation(name, stepId) {
    const step = stepId && !stepId.startsWith('__') ? stepId : '<id of this step>';
    return [
        `upload-artifact is deprecated and ignored: "${name}" was not uploaded. Upload the packages with a step after this one:`,
        `  - uses: actions/upload-artifact@v4`,
        `    with:`,
        `      name: ${name}`,
        `      path: |`,
        `        \${{ steps.${step}.outputs.packages }}`,
        `        \${{ steps.${step}.outputs.srcinfo }}`,
    ].join('\n');
}

;// CONCATENATED MODULE: ./actions/core/src/elf.ts

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
/** More than any real program has: a corrupt count is not followed into a huge read. */
const MAX_PROGRAM_HEADERS = 4096;
/** Reads `length` bytes at `offset`; fewer at the end of the file. */
function readAt(fd, offset, length) {
    const buffer = Buffer.alloc(length);
    const read = (0,external_node_fs_namespaceObject.readSync)(fd, buffer, 0, length, offset);
    return buffer.subarray(0, read);
}
class ElfReader {
    bytes;
    bits;
    little;
    constructor(bytes, bits, little) {
        this.bytes = bytes;
        this.bits = bits;
        this.little = little;
    }
    half(at) {
        return this.little ? this.bytes.readUInt16LE(at) : this.bytes.readUInt16BE(at);
    }
    word(at) {
        return this.little ? this.bytes.readUInt32LE(at) : this.bytes.readUInt32BE(at);
    }
    /** An address, offset or size: 4 bytes in ELF32, 8 in ELF64. */
    address(at) {
        if (this.bits === 32)
            return this.word(at);
        const value = this.little ? this.bytes.readBigUInt64LE(at) : this.bytes.readBigUInt64BE(at);
        return Number(value);
    }
}
/**
 * The dependencies of the ELF file at `file`, or undefined when it is not an ELF executable or
 * shared object (any other file, a relocatable object, a core dump, a truncated file).
 */
function readElfDependencies(file) {
    let fd;
    try {
        fd = (0,external_node_fs_namespaceObject.openSync)(file, 'r');
    }
    catch {
        return undefined;
    }
    try {
        return readOpenElf(fd);
    }
    catch (error) {
        // A truncated or corrupt file reads past its end, a directory cannot be read: no loadable object.
        if (error instanceof RangeError || error.code !== undefined) {
            return undefined;
        }
        throw error;
    }
    finally {
        (0,external_node_fs_namespaceObject.closeSync)(fd);
    }
}
function readOpenElf(fd) {
    const ident = readAt(fd, 0, 64);
    if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46)
        return undefined;
    const bits = ident[4] === 1 ? 32 : ident[4] === 2 ? 64 : undefined;
    const little = ident[5] === 1 ? true : ident[5] === 2 ? false : undefined;
    if (bits === undefined || little === undefined)
        return undefined;
    const header = new ElfReader(ident, bits, little);
    const type = header.half(16);
    if (type !== 2 && type !== 3)
        return undefined;
    const machine = header.half(18);
    const phoff = header.address(bits === 32 ? 28 : 32);
    const phentsize = header.half(bits === 32 ? 42 : 54);
    const phnum = Math.min(header.half(bits === 32 ? 44 : 56), MAX_PROGRAM_HEADERS);
    const segments = readSegments(fd, bits, little, phoff, phentsize, phnum);
    const result = { bits, machine, type, needed: [], rpath: [], runpath: [] };
    const interp = segments.find((segment) => segment.type === PT_INTERP);
    const interpreter = interp ? cString(readAt(fd, interp.offset, interp.filesz), 0) : '';
    if (interpreter !== '')
        result.interpreter = interpreter;
    const dynamic = segments.find((segment) => segment.type === PT_DYNAMIC);
    if (dynamic)
        readDynamic(fd, bits, little, dynamic, segments, result);
    return result;
}
function readSegments(fd, bits, little, phoff, phentsize, phnum) {
    const table = new ElfReader(readAt(fd, phoff, phentsize * phnum), bits, little);
    const segments = [];
    for (let index = 0; index < phnum; index++) {
        const at = index * phentsize;
        segments.push(bits === 32
            ? {
                type: table.word(at),
                offset: table.address(at + 4),
                vaddr: table.address(at + 8),
                filesz: table.address(at + 16),
            }
            : {
                type: table.word(at),
                offset: table.address(at + 8),
                vaddr: table.address(at + 16),
                filesz: table.address(at + 32),
            });
    }
    return segments;
}
function readDynamic(fd, bits, little, dynamic, segments, result) {
    const entrySize = bits === 32 ? 8 : 16;
    const entries = new ElfReader(readAt(fd, dynamic.offset, dynamic.filesz), bits, little);
    const tags = [];
    let strtab;
    let strsz = 0;
    for (let at = 0; at + entrySize <= dynamic.filesz; at += entrySize) {
        const tag = entries.address(at);
        const value = entries.address(at + entrySize / 2);
        if (tag === DT_NULL)
            break;
        if (tag === DT_STRTAB)
            strtab = value;
        else if (tag === DT_STRSZ)
            strsz = value;
        else
            tags.push([tag, value]);
    }
    if (strtab === undefined)
        return;
    // DT_STRTAB is an address: the PT_LOAD segment that maps it gives its place in the file.
    const address = strtab;
    const load = segments.find((segment) => segment.type === PT_LOAD &&
        address >= segment.vaddr &&
        address < segment.vaddr + segment.filesz);
    if (!load)
        return;
    const strings = readAt(fd, load.offset + (address - load.vaddr), strsz);
    for (const [tag, value] of tags) {
        if (tag === DT_NEEDED)
            result.needed.push(cString(strings, value));
        else if (tag === DT_RPATH)
            result.rpath.push(...splitPath(cString(strings, value)));
        else if (tag === DT_RUNPATH)
            result.runpath.push(...splitPath(cString(strings, value)));
    }
}
function cString(bytes, start) {
    const end = bytes.indexOf(0, start);
    return bytes.subarray(start, end < 0 ? bytes.length : end).toString('utf8');
}
function splitPath(text) {
    return text.split(':').filter((entry) => entry !== '');
}

;// CONCATENATED MODULE: ./actions/core/src/root-libraries.ts



/**
 * Parts of a root never looked into: pacman's database, kernel file systems if mounted, and
 * detached debug symbols (ELF files whose segments hold no bytes).
 */
const SKIPPED = new Set(['/var/lib/pacman', '/proc', '/sys', '/dev', '/usr/lib/debug']);
const MAX_SYMLINKS = 40;
/**
 * The host path that `inside` (an absolute path in the root) names, symbolic links followed as
 * they would be with the root as `/`; undefined when nothing is there or the links loop.
 */
function resolveInRoot(root, inside) {
    const pending = inside.split('/').filter((part) => part !== '');
    const resolved = [];
    let links = 0;
    while (pending.length > 0) {
        const part = pending.shift();
        if (part === '.')
            continue;
        if (part === '..') {
            resolved.pop();
            continue;
        }
        const host = external_node_path_namespaceObject.join(root, ...resolved, part);
        let stat;
        try {
            stat = (0,external_node_fs_namespaceObject.lstatSync)(host);
        }
        catch {
            return undefined;
        }
        if (!stat.isSymbolicLink()) {
            resolved.push(part);
            continue;
        }
        if (++links > MAX_SYMLINKS)
            return undefined;
        const target = (0,external_node_fs_namespaceObject.readlinkSync)(host);
        if (target.startsWith('/'))
            resolved.length = 0;
        pending.unshift(...target.split('/').filter((entry) => entry !== ''));
    }
    return external_node_path_namespaceObject.join(root, ...resolved);
}
/** The library directories the root's /etc/ld.so.conf names, `include` globs followed. */
function ldSoConfDirectories(root) {
    const directories = [];
    const seen = new Set();
    const readConf = (inside, depth) => {
        const host = resolveInRoot(root, inside);
        if (host === undefined || seen.has(host) || depth > 8)
            return;
        seen.add(host);
        let text;
        try {
            text = (0,external_node_fs_namespaceObject.readFileSync)(host, 'utf8');
        }
        catch {
            return;
        }
        for (const raw of text.split('\n')) {
            const line = raw.replace(/#.*/, '').trim();
            if (line === '' || line.startsWith('hwcap '))
                continue;
            const include = /^include\s+(.+)$/.exec(line);
            if (!include) {
                directories.push(...line.split(/[\s:,=]+/).filter((entry) => entry.startsWith('/')));
                continue;
            }
            for (const pattern of include[1].split(/\s+/)) {
                const absolute = pattern.startsWith('/') ? pattern : external_node_path_namespaceObject.posix.join('/etc', pattern);
                for (const file of globInRoot(root, absolute))
                    readConf(file, depth + 1);
            }
        }
    };
    readConf('/etc/ld.so.conf', 0);
    return directories;
}
/** The root paths matching `pattern`, whose last component may hold `*` and `?` wildcards. */
function globInRoot(root, pattern) {
    const dir = external_node_path_namespaceObject.posix.dirname(pattern);
    const base = external_node_path_namespaceObject.posix.basename(pattern);
    if (!/[*?]/.test(base))
        return [pattern];
    const host = resolveInRoot(root, dir);
    if (host === undefined)
        return [];
    const matcher = new RegExp(`^${base
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`);
    let names;
    try {
        names = (0,external_node_fs_namespaceObject.readdirSync)(host);
    }
    catch {
        return [];
    }
    return names
        .filter((name) => matcher.test(name))
        .sort()
        .map((name) => external_node_path_namespaceObject.posix.join(dir, name));
}
/**
 * Programs are executable and libraries named *.so*; other files are not opened (a library that is
 * neither, such as a 0644 file named without .so, is not checked).
 */
function mayBeLoadable(root, inside) {
    if (inside.includes('.so'))
        return true;
    return ((0,external_node_fs_namespaceObject.lstatSync)(external_node_path_namespaceObject.join(root, inside)).mode & 0o111) !== 0;
}
/** The regular files of the root that may be ELF objects, as root paths, skipped parts left out. */
function filesOf(root) {
    const files = [];
    const walk = (inside) => {
        let entries;
        try {
            entries = (0,external_node_fs_namespaceObject.readdirSync)(external_node_path_namespaceObject.join(root, inside), { withFileTypes: true });
        }
        catch {
            return;
        }
        for (const entry of entries) {
            const child = external_node_path_namespaceObject.posix.join(inside, entry.name);
            if (entry.isDirectory() && !SKIPPED.has(child))
                walk(child);
            else if (entry.isFile() && mayBeLoadable(root, child))
                files.push(child);
        }
    };
    walk('/');
    return files.sort();
}
/**
 * The loader's own search directories, which each glibc build compiles in: /usr/lib (and /lib) on
 * Arch Linux and Arch Linux 32; /lib64 or /lib32 (and their /usr twins) for a multilib build; the
 * multiarch directories (/lib/x86_64-linux-gnu, /lib/i386-linux-gnu) on Debian-style builds.
 */
function builtInDirectories(elf) {
    const [multilib, triplet] = elf.bits === 64 ? ['lib64', 'x86_64-linux-gnu'] : ['lib32', 'i386-linux-gnu'];
    return [
        '/lib',
        '/usr/lib',
        `/${multilib}`,
        `/usr/${multilib}`,
        `/lib/${triplet}`,
        `/usr/lib/${triplet}`,
    ];
}
function expandTokens(entry, origin, elf) {
    const lib = elf.bits === 64 ? 'lib64' : 'lib';
    const platform = elf.machine === 62 ? 'x86_64' : 'i686';
    return entry
        .replace(/\$(?:\{ORIGIN\}|ORIGIN\b)/g, origin)
        .replace(/\$(?:\{LIB\}|LIB\b)/g, lib)
        .replace(/\$(?:\{PLATFORM\}|PLATFORM\b)/g, platform);
}
/**
 * Checks every ELF object of `root` (or only the regular files `only` names, as root paths);
 * gives what was checked and every reference that misses.
 */
function checkRootLibraries(root, only) {
    const systemDirectories = ldSoConfDirectories(root);
    const elfCache = new Map();
    const readElf = (host) => {
        if (!elfCache.has(host))
            elfCache.set(host, readElfDependencies(host));
        return elfCache.get(host);
    };
    // A candidate serves only objects of its own class and machine, as with the loader.
    // Directories resolve once; a candidate then costs one lstat (more only when it is a link).
    const directories = new Map();
    const hostPathOf = (inside) => {
        const dir = external_node_path_namespaceObject.posix.dirname(inside);
        if (!directories.has(dir))
            directories.set(dir, resolveInRoot(root, dir));
        const hostDir = directories.get(dir);
        if (hostDir === undefined)
            return undefined;
        const host = external_node_path_namespaceObject.join(hostDir, external_node_path_namespaceObject.posix.basename(inside));
        try {
            if (!(0,external_node_fs_namespaceObject.lstatSync)(host).isSymbolicLink())
                return host;
        }
        catch {
            return undefined;
        }
        return resolveInRoot(root, external_node_path_namespaceObject.posix.join(`/${external_node_path_namespaceObject.relative(root, hostDir)}`, external_node_path_namespaceObject.posix.basename(inside)));
    };
    const loadable = new Map();
    const loads = (inside, elf) => {
        const key = `${elf.bits}:${elf.machine}:${inside}`;
        let found = loadable.get(key);
        if (found === undefined) {
            const host = hostPathOf(inside);
            const candidate = host === undefined ? undefined : readElf(host);
            found = candidate?.bits === elf.bits && candidate.machine === elf.machine;
            loadable.set(key, found);
        }
        return found;
    };
    const report = { objects: 0, references: 0, misses: [] };
    const objects = only ?? filesOf(root);
    // A shared object may need a library that sits off every search path, which the program that
    // loads it has loaded first (the JDK's libraries need libjvm.so from lib/server/, loaded by the
    // java launcher): for those, a library of that name anywhere in the root counts.
    const byName = new Map();
    for (const object of objects) {
        const name = external_node_path_namespaceObject.posix.basename(object);
        byName.set(name, [...(byName.get(name) ?? []), object]);
    }
    for (const object of objects) {
        const elf = readElf(external_node_path_namespaceObject.join(root, object));
        if (elf === undefined || (elf.interpreter === undefined && elf.needed.length === 0))
            continue;
        report.objects++;
        const real = resolveInRoot(root, object) ?? external_node_path_namespaceObject.join(root, object);
        const origin = external_node_path_namespaceObject.posix.dirname(`/${external_node_path_namespaceObject.relative(root, real)}`);
        if (elf.interpreter !== undefined) {
            report.references++;
            if (!loads(elf.interpreter, elf)) {
                report.misses.push({ object, missing: elf.interpreter, kind: 'interpreter' });
            }
        }
        const searched = [
            ...(elf.runpath.length === 0 ? elf.rpath : []),
            ...elf.runpath,
            ...systemDirectories,
            ...builtInDirectories(elf),
        ]
            .map((entry) => expandTokens(entry, origin, elf))
            .filter((entry) => entry.startsWith('/'));
        for (const library of elf.needed) {
            report.references++;
            const candidates = library.includes('/')
                ? // relative to the working directory: / in a container
                    [external_node_path_namespaceObject.posix.join('/', expandTokens(library, origin, elf))]
                : searched.map((dir) => external_node_path_namespaceObject.posix.join(dir, library));
            const found = candidates.some((candidate) => loads(candidate, elf)) ||
                (elf.interpreter === undefined &&
                    (byName.get(library) ?? []).some((candidate) => loads(candidate, elf)));
            if (!found) {
                report.misses.push({ object, missing: library, kind: 'library' });
            }
        }
    }
    return report;
}
/**
 * Where the loader of `root` finds `library` (a DT_NEEDED name without a slash) for an object of
 * `elf`'s class and machine, searching ld.so.conf's and the built-in directories (not the
 * object's RPATH): the library's path in the root with its directory's links followed, or
 * undefined.
 */
function findLibraryInRoot(root, library, elf) {
    for (const dir of [...ldSoConfDirectories(root), ...builtInDirectories(elf)]) {
        const host = resolveInRoot(root, external_node_path_namespaceObject.posix.join(dir, library));
        const candidate = host === undefined ? undefined : readElfDependencies(host);
        if (candidate?.bits !== elf.bits || candidate.machine !== elf.machine)
            continue;
        const realDir = resolveInRoot(root, dir) ?? external_node_path_namespaceObject.join(root, dir);
        return external_node_path_namespaceObject.posix.join(`/${external_node_path_namespaceObject.relative(root, realDir)}`, library);
    }
    return undefined;
}

;// CONCATENATED MODULE: ./actions/build-package/src/buildroot.ts







/**
 * Entering an i686 build root as Arch Linux 32's devtools do: proc, dev (recursive bind, made a
 * slave so nothing propagates back) and sys mounted inside it for the build, then `setarch i686
 * chroot`. Whatever is mounted here is unmounted afterwards, also when the build fails; after a
 * cancelled job the post step (post.ts) unmounts what the state says is still mounted.
 */
/** The mount points at or below `root`, deepest first (from /proc/self/mountinfo). */
function mountPointsUnder(mountinfo, root) {
    const points = mountinfo
        .split('\n')
        .map((line) => (line.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_m, octal) => String.fromCharCode(parseInt(octal, 8))))
        .filter((point) => point === root || point.startsWith(`${root}/`));
    return [...new Set(points)].sort((a, b) => b.length - a.length);
}
async function mountsUnder(root) {
    return mountPointsUnder(await promises_namespaceObject.readFile('/proc/self/mountinfo', 'utf8'), root);
}
/**
 * Checks that `root` is a build root: makepkg, bash, env and the compressor for `pkgext` in it, as
 * files that can run there (links followed inside the root; their interpreter and libraries in the
 * root too), so that a root lacking one is named as such, not as a failed chroot later.
 */
async function checkBuildRoot(root, pkgext) {
    const compressor = pkgext.endsWith('.zst') ? 'usr/bin/zstd' : 'usr/bin/xz';
    const programs = [];
    for (const tool of ['usr/bin/makepkg', 'usr/bin/bash', 'usr/bin/env', compressor]) {
        const host = resolveInRoot(root, `/${tool}`);
        const stat = host === undefined ? undefined : await promises_namespaceObject.stat(host).catch(() => undefined);
        if (host === undefined || !stat?.isFile() || (stat.mode & 0o111) === 0) {
            throw new errors_InputError('build-root', `${root} is not a build root: it has no /${tool} that can be run (make one with makepkg and a toolchain in it).`);
        }
        programs.push(`/${external_node_path_namespaceObject.relative(root, host)}`);
    }
    const miss = checkRootLibraries(root, programs).misses[0];
    if (miss !== undefined) {
        throw new errors_InputError('build-root', `${root} is not a build root: ${miss.object} cannot run there, it needs ${miss.kind === 'interpreter' ? 'the interpreter' : 'the library'} ${miss.missing}, which is not in the root.`);
    }
}
/** The CARCH of the root's makepkg.conf (its native architecture for packages). */
async function buildRootCarch(root) {
    const conf = await promises_namespaceObject.readFile(external_node_path_namespaceObject.join(root, 'etc/makepkg.conf'), 'utf8').catch(() => '');
    return /^CARCH=["']?([\w-]+)["']?/m.exec(conf)?.[1];
}
/** The state name under which the mounts made in a build root are recorded for the post step. */
const MOUNTS_STATE = 'mounts';
/**
 * Unmounts `points` (deepest last made first), detaching lazily what is busy; returns what is
 * still mounted afterwards.
 */
async function unmountAll(root, points) {
    for (const point of [...points].reverse()) {
        const result = await execQuiet('umount', ['-R', point], { allowFailure: true });
        if (result.code === 0) {
            info(`unmounted ${point}`);
            continue;
        }
        warning(`umount -R ${point} failed (${result.stderr.trim()}); detaching it lazily.`);
        await execQuiet('umount', ['-R', '-l', point], { allowFailure: true });
    }
    return (await mountsUnder(root)).filter((point) => points.some((ours) => point === ours || point.startsWith(`${ours}/`)));
}
/** Runs `work` with proc, dev and sys mounted in `root`; always unmounts what it mounted. */
async function withBuildRootMounts(root, work) {
    const mounted = [];
    try {
        await group(`Build root: mounting proc, dev and sys in ${root}`, async () => {
            const already = new Set(await mountsUnder(root));
            const mount = async (point, args, afterwards) => {
                if (already.has(point)) {
                    info(`${point} is already a mount point; leaving it as it is.`);
                    return;
                }
                await execQuiet('mount', [...args, point], { missingHint: 'install util-linux' });
                mounted.push(point);
                hold(MOUNTS_STATE, { root, points: mounted });
                if (afterwards)
                    await execQuiet('mount', [...afterwards, point]);
                info(`mounted ${point}`);
            };
            await mount(external_node_path_namespaceObject.join(root, 'proc'), ['-t', 'proc', 'proc']);
            await mount(external_node_path_namespaceObject.join(root, 'dev'), ['--rbind', '/dev'], ['--make-rslave']);
            await mount(external_node_path_namespaceObject.join(root, 'sys'), ['-t', 'sysfs', 'sys']);
        });
        return await work();
    }
    finally {
        await group(`Build root: unmounting`, async () => {
            const left = await unmountAll(root, mounted);
            if (left.length > 0) {
                hold(MOUNTS_STATE, { root, points: left });
                warning(`Still mounted in the build root: ${left.join(', ')}`);
            }
            else {
                release(MOUNTS_STATE);
                info('nothing the build mounted is left mounted');
            }
        });
    }
}

;// CONCATENATED MODULE: ./actions/core/src/gpg.ts






/**
 * Private GnuPG homes and the armored keys that go into them (docs/dev/signing.md). A home is
 * made under the system temp dir, not RUNNER_TEMP: gpg-agent's socket lives in it, and a Unix
 * socket path may not be longer than 107 bytes.
 */
const PUBLIC_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]+?-----END PGP PUBLIC KEY BLOCK-----/g;
const PRIVATE_BLOCK = /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]+?-----END PGP PRIVATE KEY BLOCK-----/g;
/** `text` holds armored public key blocks and nothing else (a private key never). */
function checkArmoredPublicKeys(input, text) {
    if (text.includes('PRIVATE KEY BLOCK')) {
        throw new errors_InputError(input, 'holds a private key; give only public keys (gpg --armor --export).');
    }
    const blocks = text.match(PUBLIC_BLOCK) ?? [];
    if (blocks.length === 0 || text.replace(PUBLIC_BLOCK, '').trim() !== '') {
        throw new errors_InputError(input, 'give one or more armored public key blocks (-----BEGIN PGP PUBLIC KEY BLOCK----- … as gpg --armor --export writes them) and nothing else.');
    }
}
/** `text` is one armored private key block (as `gpg --armor --export-secret-keys` writes it). */
function checkArmoredPrivateKey(input, text) {
    const blocks = text.match(PRIVATE_BLOCK) ?? [];
    if (blocks.length !== 1 || text.replace(PRIVATE_BLOCK, '').trim() !== '') {
        throw new errors_InputError(input, 'give one armored private key block (-----BEGIN PGP PRIVATE KEY BLOCK----- … as gpg --armor --export-secret-keys KEYID writes it) and nothing else.');
    }
}
/** Stops every daemon gpg started for `home` (gpg-agent above all) and removes the home. */
async function removeGnupgHome(home) {
    await execQuiet('gpgconf', ['--homedir', home, '--kill', 'all'], {
        silent: true,
        allowFailure: true,
    }).catch(() => undefined);
    await promises_namespaceObject.rm(home, { recursive: true, force: true });
}
/** Runs `work` with a new private GnuPG home, removed with its agent afterwards, whatever happens. */
async function withGnupgHome(prefix, work, tracking) {
    const home = await makePrivateTempDir(prefix, external_node_os_namespaceObject.tmpdir());
    tracking?.made(home);
    try {
        return await work(home);
    }
    finally {
        await removeGnupgHome(home);
        tracking?.removed();
    }
}
/**
 * The keys an armored block holds, read without importing them (`gpg --show-keys`), or those of
 * the home's keyring when `armoredFile` is undefined (`kind` says which keyring).
 */
async function listKeys(home, kind, armoredFile) {
    const list = kind === 'secret' ? '--list-secret-keys' : '--list-keys';
    const args = armoredFile ? ['--show-keys', armoredFile] : [list];
    const result = await execQuiet('gpg', ['--homedir', home, '--batch', '--with-colons', ...args], {
        silent: true,
        missingHint: 'install the Debian package gnupg',
    });
    return parseColonKeys(result.stdout);
}
/** `gpg --with-colons` listing → keys (pure). A primary key is a `pub`/`sec` record. */
function parseColonKeys(listing) {
    const keys = [];
    let current;
    let expectPrimaryFingerprint = false;
    for (const line of listing.split('\n')) {
        const fields = line.split(':');
        const type = fields[0];
        if (type === 'pub' || type === 'sec') {
            current = { fingerprint: '', userId: '' };
            keys.push(current);
            expectPrimaryFingerprint = true;
        }
        else if (type === 'sub' || type === 'ssb') {
            expectPrimaryFingerprint = false;
        }
        else if (type === 'fpr' && current && expectPrimaryFingerprint) {
            current.fingerprint = fields[9] ?? '';
            expectPrimaryFingerprint = false;
        }
        else if (type === 'uid' && current && current.userId === '') {
            current.userId = unescapeColonField(fields[9] ?? '');
        }
    }
    return keys.filter((key) => key.fingerprint !== '');
}
/** gpg escapes `:` and other bytes in colon listings as `\xHH`. */
function unescapeColonField(field) {
    return field.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}
/** Writes armored key text into `dir` for gpg to read; gives the file. */
async function writeKeyFile(dir, name, text) {
    const file = external_node_path_namespaceObject.join(dir, name);
    await promises_namespaceObject.writeFile(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
    return file;
}

;// CONCATENATED MODULE: ./actions/core/src/repo-name.ts

/** A repository name pacman accepts in a section header (and not a reserved one). */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RESERVED_REPO_NAMES = ['local', 'options'];
/** Checks a repository name; `input` names the input in the error. */
function checkRepoName(name, input, line = name) {
    if (RESERVED_REPO_NAMES.includes(name)) {
        throw new errors_InputError(input, `"${line}": the repository name "${name}" is reserved by pacman; choose another name.`);
    }
    if (!REPO_NAME.test(name)) {
        throw new errors_InputError(input, `"${line}": "${name}" is not a repository name (letters, digits, ".", "_", "-").`);
    }
}

;// CONCATENATED MODULE: ./actions/build-package/src/makepkg-options.ts

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
const SHORT_MEANS = {
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
function fail(problem) {
    throw new errors_InputError('makepkg-args', `${problem}; see makepkg --help for what it takes.`);
}
/** The long option `--prefix` names: itself when exact, else the one option it begins. */
function matchLong(prefix) {
    const names = LONG_OPTIONS.map((option) => option.replace(/:$/, ''));
    const exact = names.indexOf(prefix);
    const matches = exact >= 0 ? [exact] : names.flatMap((n, i) => (n.startsWith(prefix) ? [i] : []));
    if (matches.length === 0)
        fail(`"--${prefix}" is not a makepkg option`);
    if (matches.length > 1) {
        const list = matches.map((i) => `--${names[i]}`).join(', ');
        fail(`"--${prefix}" is ambiguous to makepkg (${list})`);
    }
    const option = LONG_OPTIONS[matches[0]];
    return { name: `--${option.replace(/:$/, '')}`, takesValue: option.endsWith(':') };
}
/** The options in `-abc` (and what comes after it when the last one takes an argument). */
function parseShortWord(word, next) {
    const options = [];
    for (let i = 1; i < word.length; i++) {
        const letter = word[i];
        const at = SHORT_OPTIONS.indexOf(letter);
        if (at < 0 || letter === ':')
            fail(`"-${letter}" (in "${word}") is not a makepkg option`);
        const name = SHORT_MEANS[letter] ? `--${SHORT_MEANS[letter]}` : `-${letter}`;
        if (SHORT_OPTIONS[at + 1] !== ':') {
            options.push({ name, given: word });
            continue;
        }
        if (i < word.length - 1) {
            options.push({ name, given: word, value: word.slice(i + 1) });
            return { options, used: 1 };
        }
        if (next === undefined)
            fail(`"-${letter}" (in "${word}") needs an argument`);
        options.push({ name, given: `${word} ${next}`, value: next });
        return { options, used: 2 };
    }
    return { options, used: 1 };
}
function parseLongWord(word, next) {
    const equals = word.indexOf('=');
    const prefix = equals < 0 ? word.slice(2) : word.slice(2, equals);
    const { name, takesValue } = matchLong(prefix);
    if (!takesValue) {
        if (equals >= 0)
            fail(`"${word}": ${name} takes no argument`);
        return { option: { name, given: word }, used: 1 };
    }
    if (equals >= 0)
        return { option: { name, given: word, value: word.slice(equals + 1) }, used: 1 };
    if (next === undefined)
        fail(`"${word}" (${name}) needs an argument`);
    return { option: { name, given: `${word} ${next}`, value: next }, used: 2 };
}
/**
 * The options makepkg takes from `args`, in order, and its other words (after `--`, and words
 * not starting with `-`; makepkg takes those of the form `NAME=value` as variables for the build).
 * What makepkg would refuse (an unknown option, an ambiguous prefix, a missing argument) is an
 * InputError naming makepkg-args.
 */
function parseMakepkgOptions(args) {
    const options = [];
    const operands = [];
    for (let i = 0; i < args.length;) {
        const word = args[i];
        const next = args[i + 1];
        if (word === '--') {
            operands.push(...args.slice(i + 1));
            break;
        }
        if (word.startsWith('--')) {
            const parsed = parseLongWord(word, next);
            options.push(parsed.option);
            i += parsed.used;
        }
        else if (word.startsWith('-') && word.length > 1) {
            const parsed = parseShortWord(word, next);
            options.push(...parsed.options);
            i += parsed.used;
        }
        else {
            operands.push(word);
            i += 1;
        }
    }
    return { options, operands };
}
/** The names (as in MakepkgOption.name) of the options in `args`. */
function makepkgOptionNames(args) {
    return new Set(parseMakepkgOptions(args).options.map((option) => option.name));
}

;// CONCATENATED MODULE: ./actions/build-package/src/words.ts

/**
 * Splits an input into words as a POSIX shell splits a command line, without running a shell:
 * blanks and line breaks separate words; '…' keeps everything literally; "…" keeps everything
 * but `\"`, `\\`, `\$`, `` \` `` and a backslash-newline; an unquoted backslash keeps the next
 * character (a backslash-newline joins lines); an unquoted `#` starting a word comments out
 * the rest of its line. Nothing is expanded: `$HOME` and `*` stay as written.
 */
function splitWords(name, text) {
    const words = [];
    let word;
    let i = 0;
    const append = (piece) => {
        word = (word ?? '') + piece;
    };
    while (i < text.length) {
        const char = text[i];
        if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
            if (word !== undefined)
                words.push(word);
            word = undefined;
            i += 1;
        }
        else if (char === '#' && word === undefined) {
            const end = text.indexOf('\n', i);
            i = end === -1 ? text.length : end;
        }
        else if (char === '\\') {
            const next = text[i + 1];
            if (next === undefined)
                append('\\');
            else if (next !== '\n')
                append(next);
            i += 2;
        }
        else if (char === "'") {
            const end = text.indexOf("'", i + 1);
            if (end === -1)
                throw unclosed(name, text, i);
            append(text.slice(i + 1, end));
            i = end + 1;
        }
        else if (char === '"') {
            const quoted = readDoubleQuoted(text, i + 1);
            if (quoted === undefined)
                throw unclosed(name, text, i);
            append(quoted.value);
            i = quoted.end + 1;
        }
        else {
            append(char);
            i += 1;
        }
    }
    if (word !== undefined)
        words.push(word);
    return words;
}
/** The text of a "…" opened before `start`, and the index of its closing quote. */
function readDoubleQuoted(text, start) {
    let value = '';
    for (let i = start; i < text.length; i += 1) {
        const char = text[i];
        if (char === '"')
            return { value, end: i };
        const next = text[i + 1];
        if (char === '\\' && next !== undefined && '"\\$`\n'.includes(next)) {
            if (next !== '\n')
                value += next;
            i += 1;
        }
        else {
            value += char;
        }
    }
    return undefined;
}
function unclosed(name, text, at) {
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const lineEnd = text.indexOf('\n', at);
    const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).trim();
    const number = text.slice(0, at).split('\n').length;
    const quote = text[at];
    return new errors_InputError(name, `the ${quote} opened on line ${number} (${line}) is never closed; close it, or write \\${quote} for the character itself.`);
}

;// CONCATENATED MODULE: ./actions/build-package/src/inputs.ts







const VCS_VALUES = ['auto', 'hg', 'git', 'none'];
const ARCH_VALUES = ['auto', 'i686', 'x86_64', 'any'];
const PKGEXT_VALUES = ['.pkg.tar.xz', '.pkg.tar.zst'];
/** A user name useradd accepts, and not root (makepkg refuses to run as root). */
function checkBuildUser(name) {
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
        throw new errors_InputError('build-user', `"${name}" is not a user name (lower-case letters, digits, "_" and "-", at most 32).`);
    }
    if (name === 'root') {
        throw new errors_InputError('build-user', 'makepkg refuses to run as root; name an unprivileged user.');
    }
}
/** makepkg options the action sets itself; given again they would break its guarantees. */
const OWN_OPTIONS = ['--config', '-p', '--printsrcinfo', '--packagelist', '--geninteg'];
/** Each word makepkg takes, as makepkg parses them; the action's own options refused. */
function checkMakepkgArgs(args) {
    for (const option of parseMakepkgOptions(args).options) {
        if (OWN_OPTIONS.includes(option.name)) {
            throw new errors_InputError('makepkg-args', `"${option.given}" cannot be given: makepkg takes it as ${option.name}, which the action sets itself.`);
        }
    }
}
/** syncdeps installs into a build root; a host build has no root of its own to install into. */
function checkSyncdeps(inputs) {
    if (inputs.syncdeps && !inputs.buildRoot) {
        throw new errors_InputError('syncdeps', 'installs the dependencies into the build root and needs build-root; for a host build, install them in an earlier step.');
    }
}
function absolute(value) {
    return value === undefined ? undefined : external_node_path_namespaceObject.resolve(value);
}
function parseInputs(raw) {
    const read = inputReader(raw);
    const inputs = {
        path: external_node_path_namespaceObject.resolve(read.required('path')),
        vcs: read.oneOf('vcs', VCS_VALUES),
        arch: read.oneOf('arch', ARCH_VALUES),
        pkgext: read.oneOf('pkgext', PKGEXT_VALUES),
        buildUser: read.required('build-user'),
        repo: absolute(read.optional('repo')),
        repoName: read.required('repo-name'),
        outputDir: absolute(read.optional('output-dir')),
        makepkgArgs: splitWords('makepkg-args', raw['makepkg-args'] ?? ''),
        uploadArtifact: read.optional('upload-artifact'),
        buildRoot: absolute(read.optional('build-root')),
        syncdeps: read.boolean('syncdeps'),
        pgpKeys: read.optional('pgp-keys'),
        gpgKey: read.secret('gpg-key'),
    };
    checkBuildUser(inputs.buildUser);
    checkRepoName(inputs.repoName, 'repo-name');
    checkMakepkgArgs(inputs.makepkgArgs);
    checkSyncdeps(inputs);
    if (inputs.pgpKeys !== undefined)
        checkArmoredPublicKeys('pgp-keys', inputs.pgpKeys);
    if (inputs.gpgKey !== undefined)
        checkArmoredPrivateKey('gpg-key', inputs.gpgKey);
    return inputs;
}

;// CONCATENATED MODULE: ./actions/build-package/src/linked-libraries.ts





/** glibc's own libraries: on a host without a pacman database, `glibc` in depends covers them. */
const GLIBC_SONAMES = new Set([
    'libc.so.6',
    'libm.so.6',
    'libpthread.so.0',
    'libdl.so.2',
    'librt.so.1',
    'libresolv.so.2',
    'libutil.so.1',
    'libmvec.so.1',
]);
/** The sections of a pacman database entry (`%NAME%` lines, then values up to a blank line). */
function sections(text) {
    const result = new Map();
    for (const block of text.split(/\n\s*\n/)) {
        const [header, ...values] = block.trim().split('\n');
        const name = /^%(.+)%$/.exec(header ?? '')?.[1];
        if (name)
            result.set(name, values);
    }
    return result;
}
/** File (root path) → the package that owns it, from `root`'s pacman local database. */
async function pacmanOwners(root) {
    const local = external_node_path_namespaceObject.join(root, 'var/lib/pacman/local');
    const owners = new Map();
    const entries = await promises_namespaceObject.readdir(local, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
        const [desc, files] = await Promise.all(['desc', 'files'].map((file) => promises_namespaceObject.readFile(external_node_path_namespaceObject.join(local, entry.name, file), 'utf8').catch(() => '')));
        const facts = sections(desc ?? '');
        const name = facts.get('NAME')?.[0];
        if (!name)
            continue;
        const owner = {
            name,
            provides: (facts.get('PROVIDES') ?? []).map((value) => value.split(/[<>=]/)[0]),
        };
        for (const file of sections(files ?? '').get('FILES') ?? [])
            owners.set(`/${file}`, owner);
    }
    return owners;
}
/** A dependency string's name: `ncurses>=6` → `ncurses`. */
function dependencyName(dependency) {
    return dependency.split(/[<>=]/)[0];
}
/** One line for each library of `packageFile` that no package in `depends` is known to provide. */
async function unlistedLibraries(packageFile, depends, place, owners, unpackDir) {
    await promises_namespaceObject.mkdir(unpackDir, { recursive: true });
    await execQuiet('bsdtar', ['-xf', packageFile, '-C', unpackDir, '--exclude', '.*']);
    const listed = new Set(depends.map(dependencyName));
    const where = place.onHost ? 'the host' : 'the build root';
    const problems = new Map();
    for (const miss of checkRootLibraries(unpackDir).misses) {
        if (miss.kind !== 'library' || problems.has(miss.missing))
            continue;
        const elf = readElfDependencies(external_node_path_namespaceObject.join(unpackDir, miss.object));
        if (!elf)
            continue;
        const found = findLibraryInRoot(place.root, miss.missing, elf);
        const needs = `${miss.object} needs ${miss.missing}`;
        // Not where the build ran (a library off every search path): nothing to say; make-chroot
        // checks the root.
        if (!found)
            continue;
        const owner = owners.get(found);
        if (owner) {
            if (listed.has(owner.name) || owner.provides.some((name) => listed.has(name)))
                continue;
            problems.set(miss.missing, `${needs}, which package ${owner.name} provides in ${where}, but ${owner.name} is not in depends: add it, or the minimal root will lack ${miss.missing}.`);
        }
        else if (place.onHost && !(listed.has('glibc') && GLIBC_SONAMES.has(miss.missing))) {
            problems.set(miss.missing, `${needs}, found only on the host (${found}): a host build links the host's libraries, which no package in depends provides. Add the Arch package that holds ${miss.missing} to depends, and build in a build-root to link Arch's own.`);
        }
    }
    return [...problems.values()];
}

;// CONCATENATED MODULE: ./actions/build-package/src/signing.ts






/**
 * gpg-key: the packages and the repository database signed on the host, after makepkg, in a
 * GnuPG home of this run's (docs/dev/signing.md). makepkg --sign would sign inside the build,
 * where the PKGBUILD runs: the private key never goes there.
 */
/** The state name of the signing home, which the post step removes after a cancelled run. */
const SIGNING_HOME_STATE = 'signing-home';
/** Runs `work` with the signer of `armoredKey` (undefined without one); its home removed after. */
function withSigner(armoredKey, work) {
    if (armoredKey === undefined)
        return work(undefined);
    return withGnupgHome('arch-core-signing', async (home) => work(await importSigningKey(home, armoredKey)), { made: (home) => hold(SIGNING_HOME_STATE, home), removed: () => release(SIGNING_HOME_STATE) });
}
async function importSigningKey(home, armoredKey) {
    const file = await writeKeyFile(home, 'gpg-key.asc', armoredKey);
    const result = await execQuiet('gpg', ['--homedir', home, '--batch', '--import', file], {
        silent: true,
        allowFailure: true,
        missingHint: 'install the Debian package gnupg',
    });
    await promises_namespaceObject.rm(file, { force: true });
    if (result.code !== 0) {
        throw new errors_InputError('gpg-key', `gpg could not import it: ${tailOf(result.stderr, 1)}`);
    }
    const keys = await listKeys(home, 'secret');
    const key = keys[0];
    if (keys.length !== 1 || key === undefined) {
        throw new errors_InputError('gpg-key', `holds ${keys.length} secret keys; give exactly one.`);
    }
    info(`Signing with ${key.fingerprint} (${key.userId})`);
    return { home, key };
}
/** Signs `file` as makepkg --sign does: a binary detached signature beside it, `FILE.sig`. */
async function signFile(signer, file) {
    const signature = `${file}.sig`;
    const args = ['--homedir', signer.home, '--batch', '--pinentry-mode', 'loopback'];
    // An empty passphrase: a protected key fails here at once instead of waiting for a pinentry.
    args.push('--passphrase', '', '--local-user', signer.key.fingerprint);
    args.push('--detach-sign', '--no-armor', '--output', signature, file);
    const result = await execQuiet('gpg', args, { silent: true, allowFailure: true });
    if (result.code === 0)
        return signature;
    await promises_namespaceObject.rm(signature, { force: true });
    if (/passphrase/i.test(result.stderr)) {
        throw new errors_InputError('gpg-key', 'the key is protected by a passphrase; give a signing key (or subkey) exported without one, kept in a secret.');
    }
    throw new errors_UserError(`gpg could not sign ${file}: ${tailOf(result.stderr, 3)}`);
}
/** repo-add's arguments and environment for a signed database: the old one's signature checked. */
function repoAddSigning(signer) {
    if (!signer)
        return { args: [] };
    return {
        args: ['--sign', '--verify', '--key', signer.key.fingerprint],
        env: { ...process.env, GNUPGHOME: signer.home },
    };
}

;// CONCATENATED MODULE: ./actions/build-package/src/post.ts








/** The state name of the build directory (the copy of the checkout, pkgdest, srcdest, home). */
const BUILD_COPY_STATE = 'build-copy';
/**
 * The post step: after a cancelled or failed run, unmounts what the build mounted in the build
 * root and removes the build directory and the signing key's GnuPG home; after a clean run the
 * main step released them all and there is nothing to do. Fails naming exactly what it could
 * not clean.
 */
async function post() {
    const mounts = held(MOUNTS_STATE);
    const copy = held(BUILD_COPY_STATE);
    const signingHome = held(SIGNING_HOME_STATE);
    if (!mounts && !copy && !signingHome) {
        info('build-package post: the build released everything it held; nothing to clean up.');
        return;
    }
    const left = [];
    if (signingHome) {
        info(`build-package post: removing the signing key's GnuPG home ${signingHome}`);
        await removeGnupgHome(signingHome);
        if (await exists(signingHome))
            left.push(`the signing home ${signingHome} is still there`);
    }
    if (mounts) {
        info(`build-package post: still mounted in ${mounts.root}: ${mounts.points.join(', ')}`);
        const stillMounted = await unmountAll(mounts.root, mounts.points);
        if (stillMounted.length > 0)
            left.push(`still mounted: ${stillMounted.join(', ')}`);
    }
    // After the mounts: the build directory of a build root lies inside it.
    if (copy) {
        info(`build-package post: removing the build directory ${copy}`);
        await promises_namespaceObject.rm(copy, { recursive: true, force: true }).catch((error) => {
            warning(`rm -r ${copy}: ${error.message}`);
        });
        if (await exists(copy))
            left.push(`the build directory ${copy} is still there`);
        else
            info(`removed ${copy}`);
    }
    if (left.length > 0)
        throw new errors_UserError(`Left behind: ${left.join('; ')}.`);
    info('build-package post: nothing the build held is left.');
}

;// CONCATENATED MODULE: ./actions/build-package/src/makepkg.ts


/**
 * The architecture to build for. `auto`: the PKGBUILD's single arch, else the native one (the
 * build root's, else the host's). A named arch must be one the PKGBUILD lists (or `any`),
 * unless makepkg is told --ignorearch.
 */
function resolveArch(input, pkgbuildArches, native, options = {}) {
    const listed = pkgbuildArches.length > 0 ? pkgbuildArches : [native];
    const isAny = listed.includes('any');
    let target;
    if (input === 'any') {
        if (!isAny) {
            throw new errors_InputError('arch', `any needs a PKGBUILD with arch=('any'); this one has arch=(${listed.join(' ')}).`);
        }
        target = native;
    }
    else if (input === 'auto') {
        target = !isAny && listed.length === 1 ? listed[0] : native;
    }
    else {
        if (!isAny && !listed.includes(input) && !options.ignoreArch) {
            throw new errors_InputError('arch', `${input} is not in the PKGBUILD's arch=(${listed.join(' ')}); use one of those, or pass --ignorearch in makepkg-args.`);
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
function pacmanArch(nodeArch) {
    if (nodeArch === 'x64')
        return 'x86_64';
    if (nodeArch === 'ia32')
        return 'i686';
    if (nodeArch === 'arm64')
        return 'aarch64';
    return nodeArch;
}
/**
 * The defaults of Arch's makepkg.conf for each arch: Arch Linux's for x86_64 (hardening, frame
 * pointers, packed relocations), Arch Linux 32's for i686. Debian's and Ubuntu's makepkg.conf
 * ship these commented out, so a build there would get none (see docs/dev/tool-facts.md).
 */
const ARCH_BUILD_FLAGS = {
    x86_64: {
        cflags: '-march=x86-64 -mtune=generic -O2 -pipe -fno-plt -fexceptions -Wp,-D_FORTIFY_SOURCE=3 -Wformat -Werror=format-security -fstack-clash-protection -fcf-protection -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer',
        cxxflags: '$CFLAGS -Wp,-D_GLIBCXX_ASSERTIONS',
        ldflags: '-Wl,-O1 -Wl,--sort-common -Wl,--as-needed -Wl,-z,relro -Wl,-z,now -Wl,-z,pack-relative-relocs',
    },
    i686: {
        cflags: '-march=i686 -mtune=generic -O2 -pipe -fno-plt -fexceptions -Wp,-D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security -fstack-clash-protection',
        cxxflags: '$CFLAGS -Wp,-D_GLIBCXX_ASSERTIONS',
        ldflags: '-Wl,-O1,--sort-common,--as-needed,-z,relro,-z,now',
    },
};
/**
 * A makepkg.conf for i686 with the host's multilib compiler: the system's, then CARCH/CHOST and
 * Arch Linux 32's flags with -m32 on top (makepkg exports them to build()).
 */
function i686MakepkgConf(systemConf) {
    const flags = ARCH_BUILD_FLAGS.i686;
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
function defaultFlagsMakepkgConf(systemConf, carch) {
    const flags = ARCH_BUILD_FLAGS[carch];
    if (!flags)
        return undefined;
    const orDefault = (name, value) => `[[ -n \${${name}-} ]] || ${name}="${value}"`;
    return [
        `source ${quoteBash(systemConf)}`,
        orDefault('CFLAGS', flags.cflags),
        orDefault('CXXFLAGS', flags.cxxflags),
        orDefault('LDFLAGS', flags.ldflags),
        '',
    ].join('\n');
}
function quoteBash(text) {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}
/** makepkg's arguments for the build. --nodeps unless the user asked for dependency syncing. */
function makepkgArgs(plan) {
    const args = [];
    if (plan.config)
        args.push('--config', plan.config);
    const given = makepkgOptionNames(plan.extraArgs);
    if (!given.has('--syncdeps') && !given.has('--nodeps')) {
        args.push('--nodeps');
    }
    args.push('--noconfirm', '--noprogressbar', ...plan.extraArgs);
    return args;
}
/** The environment makepkg runs with (set with `env` after the user switch). */
function makepkgEnv(plan) {
    const env = [
        `HOME=${plan.home}`,
        `PKGDEST=${plan.pkgdest}`,
        `SRCDEST=${plan.srcdest}`,
        `PKGEXT=${plan.pkgext}`,
    ];
    if (plan.arch.carch)
        env.push(`CARCH=${plan.arch.carch}`);
    if (plan.noPacman)
        env.push('PACMAN=/usr/bin/true');
    return env;
}
/** The PATH inside a build root (a chroot starts with a clean environment). */
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/**
 * Variables of the action's environment the build user's commands (makepkg, and so the PKGBUILD)
 * see, besides PATH, LC_* and what the action sets itself: the locale, the terminal, a
 * reproducible build date, make's flags, the packager's name, and the proxies sources are
 * downloaded through. Nothing else passes: not the runner's tokens, not INPUT_*, not GITHUB_*.
 */
const PASSED_VARIABLES = [
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
function buildUserEnv(parent, inBuildRoot, own) {
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
function wrapCommand(runner, cwd, env, program, args) {
    const argv = [];
    if (runner.setarchI686)
        argv.push('setarch', 'i686');
    if (runner.root)
        argv.push('chroot', runner.root, '/usr/bin/env', '-i', `PATH=${ROOT_PATH}`);
    if (runner.user)
        argv.push('runuser', '-u', runner.user, '--');
    argv.push('env', '-i', '-C', cwd, ...env, program, ...args);
    return argv;
}

;// CONCATENATED MODULE: ./actions/build-package/src/pkgbuild.ts
/**
 * Pure functions over a PKGBUILD and its .SRCINFO: what the introspection script prints, bash's
 * syntax errors, the pkgver written into the build's copy, and the .SRCINFO comparison.
 */
/**
 * Run by bash (as the build user, in the PKGBUILD's directory; `$1` = CARCH): checks the syntax,
 * sources the PKGBUILD as makepkg does, and prints what the action needs, one `key=value` a line.
 * Exit 65: syntax error (bash's message on stderr); 66: sourcing failed.
 */
const INTROSPECT_SCRIPT = [
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
const SRCINFO_SCRIPT = [
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
function parseIntrospection(output) {
    const values = new Map();
    for (const line of output.split('\n')) {
        const at = line.indexOf('=');
        if (at <= 0)
            continue;
        const key = line.slice(0, at);
        const list = values.get(key) ?? [];
        list.push(line.slice(at + 1));
        values.set(key, list);
    }
    const one = (key) => values.get(key)?.[0] ?? '';
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
/** The first `FILE: line N: message` of bash's stderr (`bash -n`). */
function parseBashSyntaxError(stderr) {
    for (const line of stderr.split('\n')) {
        const match = /^[^:]*: line (\d+): (.*)$/.exec(line.trim());
        if (match)
            return { line: Number(match[1]), message: match[2] ?? '' };
    }
    return undefined;
}
/**
 * The PKGBUILD text with its top-level `pkgver=` set to `pkgver`, the way makepkg itself writes
 * a pkgver() result back (a sed of the `pkgver=` lines); appended when the PKGBUILD has none.
 */
function setPkgver(text, pkgver) {
    const pattern = /^pkgver=[^ \n]*/gm;
    if (/^pkgver=/m.test(text))
        return text.replace(pattern, `pkgver=${pkgver}`);
    return `${text.replace(/\n?$/, '\n')}pkgver=${pkgver}\n`;
}
/**
 * A .SRCINFO with the pkgbase section's `pkgver` and `pkgrel` set to what was built (pkgver()
 * ran during the build, and makepkg resets pkgrel to 1 when it changes pkgver).
 */
function srcinfoWithVersion(srcinfo, pkgver, pkgrel) {
    return srcinfo
        .replace(/^(\tpkgver = ).*$/m, `$1${pkgver}`)
        .replace(/^(\tpkgrel = ).*$/m, `$1${pkgrel}`);
}
/** The first line where two texts differ (1-based; trailing blank lines ignored). */
function firstDifference(expected, actual) {
    const lines = (text) => text.replace(/\s+$/, '').split('\n');
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
function withVersionOf(text, like) {
    let result = text;
    for (const field of ['pkgver', 'pkgrel']) {
        const pattern = new RegExp(`^\\t${field} = .*$`, 'm');
        const wanted = pattern.exec(like)?.[0];
        if (wanted !== undefined)
            result = result.replace(pattern, wanted);
    }
    return result;
}
/** Replaces every occurrence of `from` with `to` (the build copy's path with the original). */
function replacePath(text, from, to) {
    return from === to || from === '' ? text : text.split(from).join(to);
}

;// CONCATENATED MODULE: ./actions/build-package/src/syncdeps.ts





/**
 * The `syncdeps` input: the PKGBUILD's dependencies installed into the build root before
 * makepkg, as devtools' makechrootpkg does. The host's pacman runs chrooted into the root
 * (`--sysroot`), so it reads the root's own pacman.conf, database and repositories, and runs
 * install scriptlets there; the root needs no pacman of its own.
 */
/** What pacman is asked for: depends, makedepends, and checkdepends unless check() is skipped (pure). */
function dependencyTargets(pkgbuild, makepkgArgs) {
    // --nocheck skips check(), whose checkdepends are then not needed.
    const skipsCheck = makepkgOptionNames(makepkgArgs).has('--nocheck');
    const all = [
        ...pkgbuild.depends,
        ...pkgbuild.makedepends,
        ...(skipsCheck ? [] : pkgbuild.checkdepends),
    ];
    return [...new Set(all)];
}
/** pacman's argv for installing `targets` into `root`, under `setarch i686` when asked (pure). */
function syncdepsCommand(root, cacheDirInRoot, targets, setarchI686) {
    const pacman = [
        'pacman',
        '--sysroot',
        root,
        '--noconfirm',
        '--noprogressbar',
        // A cache of this build's: a reused one rejects a rebuilt package of the same version.
        '--cachedir',
        cacheDirInRoot,
        '-Sy',
        '--needed',
        '--asdeps',
        ...targets,
    ];
    return setarchI686 ? ['setarch', 'i686', ...pacman] : pacman;
}
/** Installs `targets` into the build root `root`; `cacheDir` is a host path inside it. */
async function installDependencies(root, cacheDir, targets, setarchI686) {
    if (targets.length === 0)
        return;
    const conf = external_node_path_namespaceObject.join(root, 'etc/pacman.conf');
    if (!(await promises_namespaceObject.stat(conf).catch(() => undefined))?.isFile()) {
        throw new errors_UserError(`syncdeps: the build root ${root} has no /etc/pacman.conf naming the repositories to install ${targets.join(', ')} from.`);
    }
    await promises_namespaceObject.mkdir(external_node_path_namespaceObject.join(root, 'var/lib/pacman'), { recursive: true });
    const argv = syncdepsCommand(root, `/${external_node_path_namespaceObject.relative(root, cacheDir)}`, targets, setarchI686);
    const result = await exec(argv[0], argv.slice(1), {
        group: `syncdeps: pacman installs ${targets.join(' ')} into ${root}`,
        allowFailure: true,
        missingHint: 'install the Debian package pacman-package-manager',
    });
    if (result.code !== 0) {
        const errors = result.output.split('\n').filter((line) => line.startsWith('error: '));
        throw new errors_UserError(`syncdeps: pacman could not install ${targets.join(', ')} into ${root} (exit ${result.code}) from the repositories of its /etc/pacman.conf: ${errors.length > 0 ? errors.join('; ') : tailOf(result.output, 3)}`);
    }
}

;// CONCATENATED MODULE: ./actions/build-package/src/user.ts





/** The uid and gid of `name` in a passwd text. */
function findInPasswd(passwd, name) {
    for (const line of passwd.split('\n')) {
        const fields = line.split(':');
        if (fields[0] === name && fields.length >= 4) {
            return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
        }
    }
    return undefined;
}
async function lookUp(name, root) {
    if (root === '/') {
        const result = await execQuiet('getent', ['passwd', name], {
            silent: true,
            allowFailure: true,
        });
        return result.code === 0 ? findInPasswd(result.stdout, name) : undefined;
    }
    return findInPasswd(await promises_namespaceObject.readFile(external_node_path_namespaceObject.join(root, 'etc/passwd'), 'utf8').catch(() => ''), name);
}
/** The build user in `root` ('/' for the host), created (system user, own group) if missing. */
async function ensureBuildUser(name, root = '/') {
    const found = await lookUp(name, root);
    if (found) {
        if (found.uid === 0)
            throw new errors_UserError(`The build user "${name}" has uid 0; makepkg refuses root.`);
        return found;
    }
    const where = root === '/' ? [] : ['--root', root];
    await execQuiet('useradd', [
        ...where,
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        name,
    ], { silent: true, missingHint: 'install the Debian package passwd' });
    info(`Created the build user "${name}"${root === '/' ? '' : ` in ${root}`}.`);
    const created = await lookUp(name, root);
    if (!created)
        throw new errors_UserError(`useradd did not create the build user "${name}".`);
    return created;
}

;// CONCATENATED MODULE: ./actions/build-package/src/version.ts





/**
 * A pkgver from any text: the characters a pkgver cannot hold (`-`, `:`, `/`, blanks) become
 * dots, as the Arch VCS package guidelines turn `git describe`'s hyphens into dots.
 */
function sanitizePkgver(text) {
    return text
        .trim()
        .replace(/[-:/\s]+/g, '.')
        .replace(/^\.+|\.+$/g, '');
}
/** `[<tag>.]r<rev>.<hash>`, the tag without a leading `v` (`v1.2` → `1.2`). */
function vcsPkgver(facts) {
    const base = `r${facts.revision}.${facts.hash}`;
    const tag = facts.tag?.replace(/^v(?=\d)/i, '');
    return sanitizePkgver(tag ? `${tag}.${base}` : base);
}
/** Epoch seconds → `2026-11-25T10:00:00Z`. */
function isoUtc(epochSeconds) {
    return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** Drops a user:password@ from a URL so a remote's credentials never reach an output. */
function withoutCredentials(url) {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
/** The template of `hg log` this module reads (one field a line). */
const HG_TEMPLATE = '{reporoot}\\n{rev}\\n{node|short}\\n{latesttag}\\n{date|hgdate}\\n{node}\\n';
/** Parses the HG_TEMPLATE output. Mercurial joins several tags of one revision with `:`. */
function parseHgLog(text) {
    const [root = '', revision = '', hash = '', latestTag = '', date = '', commit = ''] = text.split('\n');
    if (revision === '-1' || /^0+$/.test(hash)) {
        throw new errors_UserError(`The Mercurial repository ${root} has no commit yet: commit first.`);
    }
    const tag = latestTag.split(':')[0];
    return {
        vcs: 'hg',
        root,
        revision,
        hash,
        commit,
        tag: tag && tag !== 'null' ? tag : undefined,
        commitTime: isoUtc(Number(date.split(' ')[0])),
    };
}
/** The `default` path of an hgrc text. */
function hgDefaultPath(hgrc) {
    let inPaths = false;
    for (const raw of hgrc.split('\n')) {
        const line = raw.trim();
        const section = /^\[(.+)\]$/.exec(line);
        if (section) {
            inPaths = section[1] === 'paths';
            continue;
        }
        const entry = /^default\s*=\s*(.+)$/.exec(line);
        if (inPaths && entry)
            return entry[1]?.trim();
    }
    return undefined;
}
/** Runs a VCS command as another user: `runuser -u USER -- env HGPLAIN=1 COMMAND ARGS`. */
function asUser(user, command, args) {
    return user
        ? ['runuser', ['-u', user, '--', 'env', 'HGPLAIN=1', command, ...args]]
        : [command, args];
}
async function hgFacts(dir, user) {
    const result = await execQuiet(...asUser(user, 'hg', ['log', '-r', '.', '--template', HG_TEMPLATE]), {
        cwd: dir,
        silent: true,
        env: { ...process.env, HGPLAIN: '1' },
        missingHint: 'install the Debian package mercurial',
    });
    const facts = parseHgLog(result.stdout);
    const hgrc = await promises_namespaceObject.readFile(external_node_path_namespaceObject.join(facts.root, '.hg', 'hgrc'), 'utf8').catch(() => '');
    const source = hgDefaultPath(hgrc);
    return { ...facts, source: source ? withoutCredentials(source) : undefined };
}
async function git(dir, args, user) {
    // safe.directory: the checkout may belong to another user than the one running the action.
    const result = await execQuiet(...asUser(user, 'git', ['-c', 'safe.directory=*', ...args]), {
        cwd: dir,
        silent: true,
        allowFailure: true,
        missingHint: 'install the Debian package git',
    });
    return result.code === 0 ? result.stdout.trim() : undefined;
}
async function gitFacts(dir, user) {
    const [root, head, count, tag, remote, shallow] = await Promise.all([
        git(dir, ['rev-parse', '--show-toplevel'], user),
        git(dir, ['log', '-1', '--format=%h%n%ct%n%H'], user),
        git(dir, ['rev-list', '--count', 'HEAD'], user),
        git(dir, ['describe', '--tags', '--abbrev=0', 'HEAD'], user),
        git(dir, ['config', '--get', 'remote.origin.url'], user),
        git(dir, ['rev-parse', '--is-shallow-repository'], user),
    ]);
    if (!head || !count) {
        throw new errors_UserError(`The git repository ${root ?? dir} has no commit yet: commit first.`);
    }
    const [hash = '', time = '0', commit = ''] = head.split('\n');
    return {
        vcs: 'git',
        root: root ?? dir,
        revision: count,
        hash,
        commit,
        tag: tag || undefined,
        commitTime: isoUtc(Number(time)),
        source: remote ? withoutCredentials(remote) : undefined,
        shallow: shallow === 'true',
    };
}
/**
 * The repository that holds `dir`, found by looking for `.hg` and `.git` upwards (no command
 * runs, nothing is written): `auto` takes the nearest (Mercurial when both are in one
 * directory), `none` takes none, `hg`/`git` insist on their kind.
 */
async function findRepository(dir, wanted) {
    if (wanted === 'none')
        return undefined;
    const kinds = wanted === 'auto' ? ['hg', 'git'] : [wanted];
    for (let current = external_node_path_namespaceObject.resolve(dir);; current = external_node_path_namespaceObject.dirname(current)) {
        for (const vcs of kinds) {
            if (await exists(external_node_path_namespaceObject.join(current, `.${vcs}`)))
                return { vcs, root: current };
        }
        if (current === external_node_path_namespaceObject.dirname(current))
            break;
    }
    if (wanted === 'auto')
        return undefined;
    const name = wanted === 'hg' ? 'Mercurial' : 'git';
    throw new errors_InputError('vcs', `${wanted} was asked for, but ${dir} is not in a ${name} repository.`);
}
/**
 * Reads the facts of the repository at `location`, running the VCS in `at` — the same
 * directory in a copy of the repository, so that nothing (not even a cache) is written into the
 * user's checkout. The facts name the original root. `user`: run the VCS as that user (the
 * build user, who owns the copy).
 */
async function readVcsFacts(location, at = location.root, user) {
    const facts = location.vcs === 'hg' ? await hgFacts(at, user) : await gitFacts(at, user);
    return { ...facts, root: location.root };
}
/** findRepository, then readVcsFacts in place. */
async function detectVcs(dir, wanted) {
    const location = await findRepository(dir, wanted);
    return location ? readVcsFacts(location, dir) : undefined;
}

;// CONCATENATED MODULE: ./actions/build-package/src/main.ts
























/** A user's mistake at a place in a file: reported as an annotation there. */
class AnnotatedError extends errors_UserError {
    properties;
    constructor(message, properties) {
        super(message);
        this.properties = properties;
    }
}
async function run() {
    try {
        await buildPackage(parseInputs(rawInputsFromEnv()));
    }
    catch (error) {
        if (!(error instanceof AnnotatedError))
            throw error;
        runner_error(error.message, error.properties);
        process.exitCode = 1;
    }
}
/** How a file is named in an annotation: relative to the workspace when inside it. */
function annotationPath(file) {
    const relative = external_node_path_namespaceObject.relative(process.env.GITHUB_WORKSPACE || process.cwd(), file);
    return relative.startsWith('..') || external_node_path_namespaceObject.isAbsolute(relative) ? file : relative;
}
/** `[epoch:]pkgver-pkgrel` → pkgver. */
function pkgverOf(version) {
    return version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
}
/** `[epoch:]pkgver-pkgrel` → pkgrel. */
function pkgrelOf(version) {
    return version.slice(version.lastIndexOf('-') + 1);
}
/** Moves a file into `dir`, atomically (a copy under a temporary name across file systems). */
async function moveInto(file, dir) {
    const target = external_node_path_namespaceObject.join(dir, external_node_path_namespaceObject.basename(file));
    try {
        await promises_namespaceObject.rename(file, target);
    }
    catch (error) {
        if (error.code !== 'EXDEV')
            throw error;
        await copyInto(file, dir);
        await promises_namespaceObject.rm(file, { force: true });
    }
    // The build user made it; the one who runs the action owns the result.
    if (process.getuid && process.getgid) {
        await promises_namespaceObject.chown(target, process.getuid(), process.getgid()).catch(() => undefined);
    }
    return target;
}
/** Copies a file into `dir` under a temporary name, then renames it into place. */
async function copyInto(file, dir) {
    const target = external_node_path_namespaceObject.join(dir, external_node_path_namespaceObject.basename(file));
    await produceAtomically(target, (temporary) => promises_namespaceObject.copyFile(file, temporary));
    return target;
}
async function buildPackage(inputs) {
    if (inputs.uploadArtifact) {
        warning(uploadArtifactDeprecation(inputs.uploadArtifact, process.env.GITHUB_ACTION));
    }
    const pkgbuildFile = external_node_path_namespaceObject.join(inputs.path, 'PKGBUILD');
    const stat = await promises_namespaceObject.stat(pkgbuildFile).catch(() => undefined);
    if (!stat?.isFile())
        throw new errors_InputError('path', `there is no PKGBUILD in ${inputs.path}.`);
    const buildRoot = inputs.buildRoot;
    if (buildRoot)
        await checkBuildRoot(buildRoot, inputs.pkgext);
    const asRoot = process.getuid?.() === 0;
    if (!asRoot)
        info(`Not running as root: makepkg runs as this user, not as build-user.`);
    const workParent = buildRoot ? external_node_path_namespaceObject.join(buildRoot, 'tmp') : await buildParent(asRoot);
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
    }
    finally {
        await promises_namespaceObject.rm(work, { recursive: true, force: true });
        release(BUILD_COPY_STATE);
    }
}
/** True when every directory from `dir` up to / lets others pass (mode o+x). */
async function traversable(dir) {
    for (let current = external_node_path_namespaceObject.resolve(dir);; current = external_node_path_namespaceObject.dirname(current)) {
        const stat = await promises_namespaceObject.stat(current).catch(() => undefined);
        if (stat && (stat.mode & 0o001) === 0)
            return false;
        if (current === external_node_path_namespaceObject.dirname(current))
            return true;
    }
}
/** Where the build directory goes: the runner's temp dir when the build user can reach it. */
async function buildParent(asRoot) {
    if (!asRoot)
        return tempRoot();
    for (const candidate of [tempRoot(), external_node_os_namespaceObject.tmpdir(), '/tmp', '/var/tmp']) {
        if (await traversable(candidate))
            return candidate;
    }
    throw new errors_UserError('No temporary directory the build user can reach (tried RUNNER_TEMP, /tmp).');
}
function inBuildRoot(root, work) {
    return root ? withBuildRootMounts(root, work) : work();
}
/**
 * Copies the repository holding the PKGBUILD (or its directory alone without one) into the
 * build directory, gives it to the build user, and starts reading the VCS facts there (nothing
 * is written into the user's checkout, not even a cache): as the build user on the host, so it
 * runs beside the PKGBUILD's introspection; before the hand-over for a build root (whose build
 * user may not exist on the host).
 */
async function copyCheckout(inputs, location, user, work) {
    const copyFrom = location?.root ?? inputs.path;
    const tree = external_node_path_namespaceObject.join(work, 'tree');
    const buildDir = external_node_path_namespaceObject.join(tree, external_node_path_namespaceObject.relative(copyFrom, inputs.path));
    const checkout = {
        buildDir,
        home: external_node_path_namespaceObject.join(work, 'home'),
        pkgdest: external_node_path_namespaceObject.join(work, 'pkgdest'),
        srcdest: external_node_path_namespaceObject.join(work, 'srcdest'),
    };
    const copiedRoot = external_node_path_namespaceObject.join(tree, external_node_path_namespaceObject.relative(copyFrom, location?.root ?? copyFrom));
    return group(`Copying ${copyFrom} to a build directory of the build user`, async () => {
        await Promise.all([
            execQuiet('cp', ['-a', `${copyFrom}/.`, tree]),
            ...[checkout.home, checkout.pkgdest, checkout.srcdest].map((dir) => promises_namespaceObject.mkdir(dir)),
        ]);
        let vcs = Promise.resolve(undefined);
        if (location && (!user || inputs.buildRoot)) {
            const facts = await readVcsFacts(location, copiedRoot);
            vcs = Promise.resolve(facts);
        }
        if (user)
            await execQuiet('chown', ['-R', `${user.uid}:${user.gid}`, work]);
        if (location && user && !inputs.buildRoot) {
            vcs = readVcsFacts(location, copiedRoot, user.name);
            vcs.catch(() => undefined); // awaited later; no unhandled rejection meanwhile
        }
        info(`${buildDir} (owner ${user ? user.name : 'this user'})`);
        return { ...checkout, vcs };
    });
}
/** A host path as the build sees it: inside the build root when there is one. */
function inner(setting, file) {
    const root = setting.inputs.buildRoot;
    return root ? `/${external_node_path_namespaceObject.relative(root, file)}` : file;
}
/** `HOME` for the commands that are not makepkg. */
function homeEnv(setting) {
    return [`HOME=${inner(setting, setting.checkout.home)}`];
}
/** The command line of `program` run as the build user in the copied PKGBUILD's directory, with `env` and the allow-listed variables only. */
function asBuildUser(setting, program, args, env) {
    const dir = inner(setting, setting.checkout.buildDir);
    const wholeEnv = buildUserEnv(process.env, Boolean(setting.runner.root), env);
    return split(wrapCommand(setting.runner, dir, wholeEnv, program, args));
}
async function buildSetting(inputs, checkout, user) {
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
async function buildInCopy(inputs, checkout, user, work) {
    const setting = await buildSetting(inputs, checkout, user);
    const pkgbuild = await introspect(setting);
    const arch = resolveArch(inputs.arch, pkgbuild.arches, setting.native, {
        ignoreArch: makepkgOptionNames(inputs.makepkgArgs).has('--ignorearch'),
        inBuildRoot: Boolean(inputs.buildRoot),
    });
    setting.runner.setarchI686 = arch.setarchI686;
    if (inputs.syncdeps && inputs.buildRoot) {
        const targets = dependencyTargets(pkgbuild, inputs.makepkgArgs);
        const cacheDir = await promises_namespaceObject.mkdtemp(external_node_path_namespaceObject.join(work, 'pacman-cache-'));
        await installDependencies(inputs.buildRoot, cacheDir, targets, arch.setarchI686);
    }
    if (inputs.pgpKeys)
        await importPgpKeys(setting, inputs.pgpKeys, work);
    const plan = await planMakepkg(setting, arch, work);
    const env = makepkgEnv(plan);
    let vcs = await versionFromVcs(pkgbuild, checkout);
    const srcinfo = await startSrcinfo(setting, pkgbuild, vcs, () => generateSrcinfo(setting, plan, env));
    await runMakepkg(setting, plan, env, pkgbuild, arch, srcinfo.later);
    vcs ??= await checkout.vcs;
    if (vcs)
        reportVcs(vcs);
    const packages = await readBuiltPackages(checkout.pkgdest);
    await warnUnlistedLibraries(setting, packages, work);
    // The .SRCINFO with the version built (pkgver() ran during the build).
    const main = mainPackage(packages, pkgbuild);
    const builtVersion = { pkgver: pkgverOf(main.info.version), pkgrel: pkgrelOf(main.info.version) };
    const text = srcinfo.early ?? (await srcinfo.later);
    return {
        pkgbuild,
        packages,
        srcinfo: srcinfoInCheckout(setting, text, builtVersion),
        pkgdest: checkout.pkgdest,
        vcs,
    };
}
/** One of makepkg.ts's bash scripts, run as the build user over the PKGBUILD. */
function runBuildUserScript(setting, script) {
    return execQuiet(...asBuildUser(setting, 'bash', ['-c', script, 'bash', setting.native], homeEnv(setting)), { silent: true, allowFailure: true });
}
/**
 * The pgp-keys into the build user's keyring (`HOME/.gnupg`, where makepkg's gpg looks), so
 * sources signed by a key of validpgpkeys verify. --no-autostart: importing public keys needs
 * no gpg-agent, and none is left running.
 */
async function importPgpKeys(setting, keys, work) {
    const file = external_node_path_namespaceObject.join(work, 'pgp-keys.asc');
    await promises_namespaceObject.writeFile(file, keys.endsWith('\n') ? keys : `${keys}\n`, { mode: 0o644 });
    const args = ['--batch', '--no-autostart', '--import', inner(setting, file)];
    const result = await execQuiet(...asBuildUser(setting, 'gpg', args, homeEnv(setting)), {
        allowFailure: true,
        missingHint: 'install gnupg (gpg)',
    });
    if (result.code !== 0) {
        throw new errors_InputError('pgp-keys', `gpg could not import them: ${tailOf(result.stderr, 3).replace(/\n/g, '; ')}`);
    }
    info(`pgp-keys: ${tailOf(result.stderr, 10)}`);
}
/** What the PKGBUILD says (sourced as the build user, as makepkg does). */
async function introspect(setting) {
    const file = external_node_path_namespaceObject.join(setting.inputs.path, 'PKGBUILD');
    const introspection = await runBuildUserScript(setting, INTROSPECT_SCRIPT);
    if (introspection.code === 65) {
        const problem = parseBashSyntaxError(introspection.stderr);
        throw new AnnotatedError(`${file}${problem ? ` line ${problem.line}: ${problem.message}` : `: ${introspection.stderr.trim()}`}`, { title: 'PKGBUILD syntax error', file: annotationPath(file), startLine: problem?.line });
    }
    if (introspection.code !== 0) {
        throw new errors_UserError(`Reading ${file} failed: ${tailOf(introspection.stderr, 5) || `exit ${introspection.code}`}`);
    }
    return parseIntrospection(introspection.stdout);
}
/** The makepkg.conf of the host, or of the build root as seen inside it. */
const SYSTEM_MAKEPKG_CONF = '/etc/makepkg.conf';
async function planMakepkg(setting, arch, work) {
    const { inputs, checkout } = setting;
    const text = arch.multilib
        ? i686MakepkgConf(SYSTEM_MAKEPKG_CONF)
        : defaultFlagsMakepkgConf(SYSTEM_MAKEPKG_CONF, arch.carch ?? setting.native);
    let config;
    if (text) {
        config = external_node_path_namespaceObject.join(work, arch.multilib ? 'makepkg-i686.conf' : 'makepkg.conf');
        await promises_namespaceObject.writeFile(config, text, { mode: 0o644 });
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
        noPacman: !(await exists(external_node_path_namespaceObject.join(inputs.buildRoot ?? '/', 'usr/bin/pacman'))),
    };
}
/** The .SRCINFO: makepkg's library through SRCINFO_SCRIPT, else makepkg --printsrcinfo. */
async function generateSrcinfo(setting, plan, env) {
    const fast = await runBuildUserScript(setting, SRCINFO_SCRIPT);
    if (fast.code === 0)
        return fast.stdout;
    const configArgs = plan.config ? ['--config', plan.config] : [];
    const slow = await execQuiet(...asBuildUser(setting, 'makepkg', [...configArgs, '--printsrcinfo'], env), { silent: true, allowFailure: true });
    if (slow.code !== 0) {
        throw new errors_UserError(`makepkg --printsrcinfo failed: ${tailOf(slow.stderr, 5)}`);
    }
    return slow.stdout;
}
/**
 * The version: the repository's is needed before the build only when the PKGBUILD has no
 * pkgver() of its own (it is written into the copied PKGBUILD); otherwise the VCS is read beside
 * the build, for the outputs, and this gives undefined.
 */
async function versionFromVcs(pkgbuild, checkout) {
    if (pkgbuild.hasPkgverFunction) {
        info(`The PKGBUILD's own pkgver() sets the version.`);
        return undefined;
    }
    const vcs = await checkout.vcs;
    if (vcs) {
        const copiedPkgbuild = external_node_path_namespaceObject.join(checkout.buildDir, 'PKGBUILD');
        const pkgver = vcsPkgver(vcs);
        const text = await promises_namespaceObject.readFile(copiedPkgbuild, 'utf8');
        await promises_namespaceObject.writeFile(copiedPkgbuild, setPkgver(text, pkgver));
        info(`pkgver ${pkgver} (from ${vcs.vcs}; the PKGBUILD has no pkgver())`);
    }
    return vcs;
}
/** A generated .SRCINFO as it reads in the user's checkout, with `versions` when given. */
function srcinfoInCheckout(setting, text, versions) {
    const mapped = replacePath(text, inner(setting, setting.checkout.buildDir), setting.inputs.path);
    return versions ? srcinfoWithVersion(mapped, versions.pkgver, versions.pkgrel) : mapped;
}
/**
 * The .SRCINFO as `makepkg --printsrcinfo` would write it in the user's checkout. A committed
 * one is checked before anything is built; otherwise it is generated beside the build.
 */
async function startSrcinfo(setting, pkgbuild, vcs, generate) {
    const dir = setting.inputs.path;
    if (await exists(external_node_path_namespaceObject.join(dir, '.SRCINFO'))) {
        const vcsVersion = vcs ? { pkgver: vcsPkgver(vcs), pkgrel: pkgbuild.pkgrel } : undefined;
        const early = srcinfoInCheckout(setting, await generate(), vcsVersion);
        await checkCommittedSrcinfo(dir, early, Boolean(vcs) || pkgbuild.hasPkgverFunction);
        return { early };
    }
    const later = generate();
    later.catch(() => undefined); // awaited after the build
    return { later };
}
async function runMakepkg(setting, plan, env, pkgbuild, arch, srcinfoLater) {
    const buildRoot = setting.inputs.buildRoot;
    const buildRun = await exec(...asBuildUser(setting, 'makepkg', makepkgArgs(plan), env), {
        group: `makepkg: ${pkgbuild.pkgbase} for ${arch.packageArch}${buildRoot ? ` in the build root ${buildRoot}` : ''}`,
        allowFailure: true,
        missingHint: 'install the Debian packages makepkg and libarchive-tools',
    });
    if (buildRun.code !== 0) {
        await srcinfoLater?.catch(() => undefined); // nothing of ours may run on in a build root
        throw new errors_UserError(`The build of ${pkgbuild.pkgbase} failed (makepkg exited with code ${buildRun.code}); the last lines of its log (all of it is in the group above):\n${tailOf(buildRun.output, 15)}`);
    }
}
function reportVcs(vcs) {
    info(`${vcs.vcs} repository ${vcs.root}: revision ${vcs.revision}, hash ${vcs.hash}${vcs.tag ? `, tag ${vcs.tag}` : ''}`);
    if (vcs.shallow) {
        warning(`${vcs.root} is a shallow git clone: the revision count (${vcs.revision}) and the tags do not cover the whole history. Check out with fetch-depth: 0.`);
    }
}
async function readBuiltPackages(pkgdest) {
    const packages = [];
    for (const name of (await promises_namespaceObject.readdir(pkgdest)).sort()) {
        if (!isPackageFileName(name))
            continue;
        const file = external_node_path_namespaceObject.join(pkgdest, name);
        const [info, sha256, fileStat] = await Promise.all([
            readPackageInfo(file),
            sha256File(file),
            promises_namespaceObject.stat(file),
        ]);
        packages.push({ file, info, sha256, size: fileStat.size });
    }
    if (packages.length === 0)
        throw new errors_UserError(`makepkg finished but made no package file.`);
    return packages;
}
/**
 * A warning on the PKGBUILD for each library a built package links that no package in its
 * depends is known to provide (linked-libraries.ts); make-chroot's check then fails the root.
 */
async function warnUnlistedLibraries(setting, packages, work) {
    const buildRoot = setting.inputs.buildRoot;
    const place = { root: buildRoot ?? '/', onHost: !buildRoot };
    const owners = await pacmanOwners(place.root);
    const pkgbuild = annotationPath(external_node_path_namespaceObject.join(setting.inputs.path, 'PKGBUILD'));
    for (const [index, entry] of packages.entries()) {
        const unpackDir = external_node_path_namespaceObject.join(work, `unpacked-${index}`);
        const problems = await unlistedLibraries(entry.file, entry.info.depends, place, owners, unpackDir);
        for (const problem of problems) {
            warning(`${entry.info.name}: ${problem}`, {
                title: 'A library not in depends',
                file: pkgbuild,
            });
        }
        await promises_namespaceObject.rm(unpackDir, { recursive: true, force: true });
    }
}
function split(argv) {
    return [argv[0], argv.slice(1)];
}
function mainPackage(packages, pkgbuild) {
    return (packages.find((entry) => entry.info.name === pkgbuild.pkgbase) ??
        packages.find((entry) => entry.info.name === pkgbuild.pkgnames[0]) ??
        packages[0]);
}
/** A committed .SRCINFO must equal the generated one (its pkgver and pkgrel excepted when the VCS sets them). */
async function checkCommittedSrcinfo(dir, generated, versionFromVcs) {
    const file = external_node_path_namespaceObject.join(dir, '.SRCINFO');
    let committed;
    try {
        committed = await promises_namespaceObject.readFile(file, 'utf8');
    }
    catch {
        return;
    }
    const expected = versionFromVcs ? withVersionOf(generated, committed) : generated;
    const difference = firstDifference(committed, expected);
    if (!difference) {
        info(`${file} matches makepkg --printsrcinfo.`);
        return;
    }
    const show = (line) => {
        if (line === undefined)
            return '(the end of the file)';
        return line.trim() === '' ? '(a blank line)' : `"${line.trim()}"`;
    };
    throw new AnnotatedError(`${file} differs from makepkg --printsrcinfo at line ${difference.line}: it has ${show(difference.expected)}, the PKGBUILD gives ${show(difference.actual)}. Regenerate it with makepkg --printsrcinfo > .SRCINFO.`, { title: '.SRCINFO is stale', file: annotationPath(file), startLine: difference.line });
}
async function publish(inputs, vcs, built) {
    await withSigner(inputs.gpgKey, async (signer) => {
        const outDir = inputs.outputDir ?? inputs.repo ?? external_node_path_namespaceObject.join(tempRoot(), 'arch-core-packages');
        const main = mainPackage(built.packages, built.pkgbuild);
        const srcinfoName = `${built.pkgbuild.pkgbase}.SRCINFO`;
        if (signer)
            await signPackages(signer, built.packages);
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
function signPackages(signer, packages) {
    return group(`Sign the packages with ${signer.key.fingerprint}`, async () => {
        for (const entry of packages)
            info(await signFile(signer, entry.file));
    });
}
/** The .SRCINFO and each package's app record beside the packages, so a package in place always has its record. */
async function writeRecords(built, vcs, srcinfoName) {
    await promises_namespaceObject.writeFile(external_node_path_namespaceObject.join(built.pkgdest, srcinfoName), built.srcinfo);
    for (const entry of built.packages) {
        const info = {
            name: entry.info.name,
            version: entry.info.version,
            vcs: vcs?.vcs ?? 'none',
            revision: vcs?.revision,
            hash: vcs?.hash,
            commit: vcs?.commit,
            commitTime: vcs?.commitTime,
            source: vcs?.source,
        };
        await promises_namespaceObject.writeFile(appInfoPathFor(entry.file), `${JSON.stringify(info, null, 2)}\n`);
    }
}
/** Moves the .SRCINFO, then each package's record and the package, into `outDir`. */
function placeInto(outDir, built, srcinfoName) {
    return group(`Packages → ${outDir}`, async () => {
        await promises_namespaceObject.mkdir(outDir, { recursive: true });
        const files = [];
        const srcinfo = await moveInto(external_node_path_namespaceObject.join(built.pkgdest, srcinfoName), outDir);
        for (const entry of built.packages) {
            await moveInto(appInfoPathFor(entry.file), outDir);
            // The signature before its package: a package in place always has its signature.
            if (await exists(`${entry.file}.sig`))
                await moveInto(`${entry.file}.sig`, outDir);
            const target = await moveInto(entry.file, outDir);
            info(target);
            files.push(target);
        }
        return { files, srcinfo };
    });
}
/** Adds the packages (copied in with their records and signatures when they are elsewhere) to the repository; gives its database. */
async function addToRepo(repo, repoName, files, signer) {
    await promises_namespaceObject.mkdir(repo, { recursive: true });
    const inRepo = [];
    for (const file of files) {
        if (external_node_path_namespaceObject.dirname(file) === repo) {
            inRepo.push(file);
        }
        else {
            await copyInto(appInfoPathFor(file), repo);
            if (signer)
                await copyInto(`${file}.sig`, repo);
            inRepo.push(await copyInto(file, repo));
        }
    }
    const repoDb = external_node_path_namespaceObject.join(repo, `${repoName}.db.tar.gz`);
    const signing = repoAddSigning(signer);
    const result = await exec('repo-add', ['-q', '-R', ...signing.args, repoDb, ...inRepo], {
        group: `repo-add: ${repoName} in ${repo}${signer ? ', signed' : ''}`,
        env: signing.env,
        allowFailure: true,
        missingHint: 'install the Debian package pacman-package-manager',
    });
    if (result.code !== 0) {
        const unverified = /signature file verification failed/i.test(result.output);
        throw new errors_UserError(unverified
            ? `repo-add refused to update ${repoDb}: its signature does not verify with gpg-key (signed by another key, or changed since). The packages are in ${external_node_path_namespaceObject.dirname(files[0] ?? repo)}; the database was left as it was.`
            : `repo-add failed (exit ${result.code}) on ${repoDb}:\n${tailOf(result.output, 10)}`);
    }
    return repoDb;
}
async function writeBuildSummary(built, version, vcs, repoDb, signer) {
    const facts = [['version', version]];
    if (signer)
        facts.push(['signed by', `${signer.key.fingerprint} (${signer.key.userId})`]);
    if (vcs) {
        facts.push([
            'vcs',
            `${vcs.vcs} revision ${vcs.revision}, ${vcs.hash}${vcs.tag ? `, tag ${vcs.tag}` : ''}`,
        ], ['commit time', vcs.commitTime]);
    }
    if (repoDb)
        facts.push(['repository', repoDb]);
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

;// CONCATENATED MODULE: ./actions/build-package/src/index.ts



runActionWithPost(run, post);

