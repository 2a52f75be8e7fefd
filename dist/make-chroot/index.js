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
function error(message, properties = {}) {
    annotate('error', message, properties);
}
/** Logs `message` as an error annotation and makes the step fail when the process ends. */
function setFailed(message) {
    process.exitCode = 1;
    error(message);
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
            error(errors_messageOf(cause));
    }
    if (!(thrown instanceof errors_UserError) && thrown instanceof Error && thrown.stack) {
        debug(thrown.stack);
    }
    setFailed(errors_messageOf(thrown));
}

;// CONCATENATED MODULE: external "node:fs/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
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
    for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry))
            continue;
        try {
            // The parent pid is the second field after the ")" that ends the command's name.
            const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
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
        await promises_namespaceObject.rm(dir, { recursive: true, force: true });
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
    await fs.mkdir(path.dirname(target), { recursive: true });
    await removeLeftoverTemporaries(target, core.info);
    const temporary = temporarySibling(target);
    try {
        const result = await produce(temporary);
        await renameReplacing(temporary, target);
        return result;
    }
    catch (error) {
        await fs.rm(temporary, { recursive: true, force: true });
        throw error;
    }
}
async function renameReplacing(temporary, target) {
    const old = await fs.lstat(target).catch(() => undefined);
    if (!old?.isDirectory()) {
        await fs.rename(temporary, target);
        return;
    }
    const aside = temporarySibling(target);
    await fs.rename(target, aside);
    try {
        await fs.rename(temporary, target);
    }
    catch (error) {
        await fs.rename(aside, target);
        throw error;
    }
    await fs.rm(aside, { recursive: true, force: true });
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
        return await promises_namespaceObject.stat(target);
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
        throw new errors_InputError(input, `"${target}" is a directory; give the path of a file to write.`);
    }
    if (stat && !stat.isDirectory() && kind === 'directory') {
        throw new errors_InputError(input, `"${target}" is a file; give the path of a directory to write.`);
    }
    for (let parent = external_node_path_namespaceObject.dirname(target);; parent = external_node_path_namespaceObject.dirname(parent)) {
        const parentStat = await statOrUndefined(parent);
        if (parentStat === undefined)
            continue;
        if (!parentStat.isDirectory()) {
            throw new errors_InputError(input, `"${parent}" is a file, so "${target}" cannot be made in it.`);
        }
        return;
    }
}
/** True when `dir` is absent or an empty directory. */
async function isAbsentOrEmptyDir(dir) {
    try {
        return (await promises_namespaceObject.readdir(dir)).length === 0;
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
        for (const entry of (0,external_node_fs_namespaceObject.readdirSync)(current, { withFileTypes: true })) {
            const full = external_node_path_namespaceObject.join(current, entry.name);
            if (entry.isDirectory()) {
                walk(full);
            }
            else if (entry.isFile()) {
                const stat = (0,external_node_fs_namespaceObject.lstatSync)(full);
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
        text = await promises_namespaceObject.readFile(appInfoPathFor(packageFile), 'utf8');
    }
    catch {
        return undefined;
    }
    const info = JSON.parse(text);
    if (typeof info.name !== 'string' || typeof info.version !== 'string') {
        throw new errors_UserError(`${appInfoPathFor(packageFile)} is not an arch-core app record.`);
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

;// CONCATENATED MODULE: ./actions/make-chroot/src/pacman.ts







const ARCHES = ['i686', 'x86_64'];
/** Repositories in a local directory are the user's own (or build-package's): trusted. */
const LOCAL_REPO_SIGNATURE_LEVEL = 'Never';
/**
 * NoExtract patterns for a stripped root: documentation, man and info pages, and every locale
 * but C/English. pacman applies the LAST matching pattern, so the `!` exceptions come after.
 */
const STRIP_NO_EXTRACT = [
    'usr/share/doc/*',
    'usr/share/gtk-doc/*',
    'usr/share/man/*',
    'usr/share/info/*',
    'usr/share/help/*',
    '!usr/share/help/C/*',
    'usr/share/locale/*',
    'usr/share/X11/locale/*/*',
    'usr/share/i18n/locales/*',
    '!usr/share/X11/locale/C/*',
    '!*locale*/en*/*',
    '!usr/share/*locale*/locale.*',
    '!usr/share/*locales/en_??',
    '!usr/share/*locales/i18n*',
    '!usr/share/*locales/iso*',
    '!usr/share/*locales/trans*',
    'usr/share/vim/vim*/lang/*',
];
/** True when `location` is a URL (scheme://...) rather than a directory on this machine. */
function isUrl(location) {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}
/**
 * Parses one `name=URL-or-directory` line of a `repos` input. A directory becomes a `file://`
 * server and is trusted; a URL gets `remoteSigLevel`.
 */
function parseRepoLine(line, input, remoteSigLevel) {
    const equals = line.indexOf('=');
    const name = equals > 0 ? line.slice(0, equals).trim() : '';
    const location = equals > 0 ? line.slice(equals + 1).trim() : '';
    if (!name || !location) {
        throw new errors_InputError(input, `"${line}" is not of the form name=location (a URL or a directory), e.g. myrepo=/srv/repo.`);
    }
    checkRepoName(name, input, line);
    if (isUrl(location))
        return { name, servers: [location], sigLevel: remoteSigLevel };
    return {
        name,
        servers: [`file://${external_node_path_namespaceObject.resolve(location)}`],
        sigLevel: LOCAL_REPO_SIGNATURE_LEVEL,
    };
}
/** Local directory of a `file://` server, or undefined for a remote one. */
function localDirectoryOf(server) {
    return server.startsWith('file://') ? server.slice('file://'.length) : undefined;
}
/** The distribution repositories behind one mirror pattern. */
function mirrorRepos(pattern, names, sigLevel) {
    return names.map((name) => ({ name, servers: [pattern], sigLevel }));
}
function checkConfValue(value, what) {
    if (/[\r\n]/.test(value))
        throw new errors_UserError(`${what} must be a single line: ${JSON.stringify(value)}`);
    return value;
}
/** Directory values end in `/` in pacman.conf. */
function dir(value) {
    return value.endsWith('/') ? value : `${value}/`;
}
/** The text of a pacman.conf for `config` (pure). */
function pacmanConf(config) {
    const lines = [
        '# Generated by arch-core.',
        '[options]',
        `RootDir = ${checkConfValue(config.rootDir, 'RootDir')}`,
        `DBPath = ${dir(checkConfValue(config.dbPath, 'DBPath'))}`,
        `CacheDir = ${dir(checkConfValue(config.cacheDir, 'CacheDir'))}`,
        `HookDir = ${dir(checkConfValue(config.hookDir, 'HookDir'))}`,
        `LogFile = ${checkConfValue(config.logFile, 'LogFile')}`,
        `GPGDir = ${dir(checkConfValue(config.gpgDir, 'GPGDir'))}`,
        `Architecture = ${config.arch}`,
        `SigLevel = ${checkConfValue(config.sigLevel, 'SigLevel')}`,
        `LocalFileSigLevel = ${checkConfValue(config.localFileSigLevel ?? 'Optional', 'LocalFileSigLevel')}`,
    ];
    if (config.noExtract.length > 0) {
        lines.push(`NoExtract = ${config.noExtract.map((p) => checkConfValue(p, 'NoExtract')).join(' ')}`);
    }
    const seen = new Set();
    for (const repo of config.repos) {
        if (seen.has(repo.name)) {
            throw new errors_UserError(`The repository "${repo.name}" is given twice; each name must be unique.`);
        }
        seen.add(repo.name);
        lines.push('', `[${repo.name}]`, `SigLevel = ${checkConfValue(repo.sigLevel, 'SigLevel')}`);
        for (const server of repo.servers)
            lines.push(`Server = ${checkConfValue(server, 'Server')}`);
    }
    return `${lines.join('\n')}\n`;
}
const PACMAN_HINT = 'install pacman (Debian package pacman-package-manager)';
/** argv for pacman with a config file: `--config CONF --noconfirm --noprogressbar ...args` (pure). */
function pacmanArgv(configFile, args) {
    return ['--config', configFile, '--noconfirm', '--noprogressbar', ...args];
}
/** Runs pacman with `configFile` and `args` in its own log group. */
function runPacman(configFile, args, options = {}) {
    return exec('pacman', pacmanArgv(configFile, args), { missingHint: PACMAN_HINT, ...options });
}
/** Reads the problems out of the output of a failed `pacman -S` (or `-Sp`) (pure). */
function parseTargetProblems(output) {
    const problems = { missing: [], unsatisfied: [], other: [] };
    for (const raw of output.split('\n')) {
        const line = raw.trim();
        let match = /^error: target not found: (.+)$/.exec(line);
        if (match) {
            problems.missing.push(match[1].trim());
            continue;
        }
        match = /^:: unable to satisfy dependency '(.+)' required by (\S+)$/.exec(line);
        if (match) {
            problems.unsatisfied.push({ dependency: match[1], requiredBy: match[2] });
            continue;
        }
        if (line.startsWith('error:') && !line.startsWith('error: failed to prepare transaction')) {
            problems.other.push(line.slice('error:'.length).trim());
        }
    }
    return problems;
}
/** The message for problems found before installing: every missing package and where we looked. */
function describeTargetProblems(problems, searched) {
    const parts = [];
    const where = searched.length > 0 ? searched.join(', ') : 'no repository';
    if (problems.missing.length > 0) {
        const plural = problems.missing.length > 1 ? 's' : '';
        parts.push(`Package${plural} not found in any repository: ${problems.missing.join(', ')} (searched: ${where}).`);
    }
    for (const { dependency, requiredBy } of problems.unsatisfied) {
        parts.push(`The dependency "${dependency}" of ${requiredBy} is in no repository (searched: ${where}).`);
    }
    for (const line of problems.other)
        parts.push(`pacman: ${line}`);
    return parts.join(' ');
}
/**
 * The packages whose install scriptlet could not run, read from pacman's standard output: pacman
 * prints `installing NAME...` before each package and `call to execv failed` (exiting 0!) when a
 * scriptlet cannot start, e.g. in a root without /bin/sh (pure).
 */
function parseScriptletFailures(output) {
    const failed = [];
    let current;
    for (const line of output.split('\n')) {
        const operation = /^(?:\(\s*\d+\/\d+\)\s+)?(?:installing|upgrading|reinstalling|downgrading) (\S+?)(?:\.\.\.)?\s*(?:\[.*)?$/.exec(line.trim());
        if (operation) {
            current = operation[1];
            continue;
        }
        if (/call to execv failed|error: command failed to execute correctly/.test(line)) {
            const name = current ?? '(unknown package)';
            if (!failed.includes(name))
                failed.push(name);
        }
    }
    return failed;
}
/** The `%KEY%` sections of a local database `desc` file (pure). */
function parseDesc(text) {
    const sections = {};
    let key;
    for (const line of text.split('\n')) {
        const header = /^%([A-Z0-9]+)%$/.exec(line);
        if (header) {
            key = header[1];
            sections[key] = [];
        }
        else if (key && line !== '') {
            sections[key].push(line);
        }
        else if (line === '') {
            key = undefined;
        }
    }
    return sections;
}
/**
 * What a root holds, from its local database: every package's `desc` (name, version, arch and
 * exact installed size), which is what `pacman -Q` lists. Read synchronously: a few small files a
 * package, and no pacman process to start. Sorted by name.
 */
function queryInstalled(dbPath) {
    const local = external_node_path_namespaceObject.join(dbPath, 'local');
    if (!(0,external_node_fs_namespaceObject.existsSync)(local))
        return [];
    const installed = [];
    for (const entry of (0,external_node_fs_namespaceObject.readdirSync)(local, { withFileTypes: true })) {
        if (!entry.isDirectory())
            continue;
        const desc = parseDesc((0,external_node_fs_namespaceObject.readFileSync)(external_node_path_namespaceObject.join(local, entry.name, 'desc'), 'utf8'));
        const name = desc.NAME?.[0];
        const version = desc.VERSION?.[0];
        if (name === undefined || version === undefined)
            continue;
        installed.push({
            name,
            version,
            arch: desc.ARCH?.[0] ?? 'unknown',
            installedSize: Number(desc.SIZE?.[0] ?? '0'),
        });
    }
    return installed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
/**
 * Sets `%INSTALLDATE%` of every package in a local database to `epoch`, so a root made twice from
 * the same packages is the same bytes (pacman stamps the wall clock).
 */
async function clampInstallDates(dbPath, epoch) {
    const local = external_node_path_namespaceObject.join(dbPath, 'local');
    for (const entry of await promises_namespaceObject.readdir(local, { withFileTypes: true })) {
        if (!entry.isDirectory())
            continue;
        const file = external_node_path_namespaceObject.join(local, entry.name, 'desc');
        const text = await promises_namespaceObject.readFile(file, 'utf8');
        const clamped = text.replace(/(%INSTALLDATE%\n)(\d+)/, (whole, header, value) => Number(value) > epoch ? `${header}${epoch}` : whole);
        if (clamped !== text)
            await promises_namespaceObject.writeFile(file, clamped);
    }
}
/**
 * Makes a repository of local package files in `dir` named `name` (symlinks to the files and a
 * repo-add database), so they can be installed with `-S` in one transaction with the rest.
 */
async function makeLocalRepo(dir, name, packageFiles) {
    await promises_namespaceObject.mkdir(dir, { recursive: true });
    const links = [];
    for (const file of packageFiles) {
        const link = external_node_path_namespaceObject.join(dir, external_node_path_namespaceObject.basename(file));
        if (links.includes(link)) {
            throw new errors_UserError(`Two package files share the name ${external_node_path_namespaceObject.basename(file)}.`);
        }
        await promises_namespaceObject.symlink(external_node_path_namespaceObject.resolve(file), link);
        // repo-add puts a signature beside the package into the database (%PGPSIG%).
        if (await exists(`${file}.sig`))
            await promises_namespaceObject.symlink(external_node_path_namespaceObject.resolve(`${file}.sig`), `${link}.sig`);
        links.push(link);
    }
    await execQuiet('repo-add', ['-q', external_node_path_namespaceObject.join(dir, `${name}.db.tar.gz`), ...links], {
        silent: true,
        missingHint: 'install the Debian package pacman-package-manager (repo-add)',
    });
}
/** Parses `pacman -F --machinereadable` output: `repo\0name\0version\0path` lines (pure). */
function parseFileProviders(output) {
    return output
        .split('\n')
        .map((line) => line.split('\0'))
        .filter((fields) => fields.length === 4)
        .map(([repo, name, version, file]) => ({
        repo: repo,
        name: name,
        version: version,
        file: file,
    }));
}
/**
 * The packages of the configured repositories that hold a file named like each of `names`, from
 * their files databases (fetched into `dbPath` with -Fy: a local repository's `<name>.files`,
 * made by repo-add). Empty when no repository has one: the lookup only helps an error message.
 */
async function findFileProviders(configFile, dbPath, names) {
    await promises_namespaceObject.mkdir(dbPath, { recursive: true });
    const quiet = { silent: true, allowFailure: true, missingHint: PACMAN_HINT };
    const sync = await execQuiet('pacman', pacmanArgv(configFile, ['--dbpath', dbPath, '-Fy']), quiet);
    if (sync.code !== 0 || names.length === 0)
        return [];
    const found = await execQuiet('pacman', pacmanArgv(configFile, ['--dbpath', dbPath, '-F', '--machinereadable', ...names]), quiet);
    return parseFileProviders(found.stdout);
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
        throw new InputError(input, 'give one armored private key block (-----BEGIN PGP PRIVATE KEY BLOCK----- … as gpg --armor --export-secret-keys KEYID writes it) and nothing else.');
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

;// CONCATENATED MODULE: ./actions/make-chroot/src/keyring.ts




/** Runs `work` with the keyring of `armoredKeys` (undefined without one). */
function withKeyring(armoredKeys, work) {
    if (armoredKeys === undefined)
        return work(undefined);
    return withGnupgHome('arch-core-keyring', async (home) => work(await group('Keyring for the package signatures', () => makeKeyring(home, armoredKeys))));
}
async function makeKeyring(home, armoredKeys) {
    const file = await writeKeyFile(home, 'keyring.asc', armoredKeys);
    const pacmanKey = (args) => execQuiet('pacman-key', ['--gpgdir', home, ...args], {
        silent: true,
        missingHint: 'install the Debian package pacman-package-manager (pacman-key)',
    });
    await pacmanKey(['--init']);
    const keys = await listKeys(home, 'public', file);
    if (keys.length === 0)
        throw new errors_InputError('keyring', 'gpg found no key in it.');
    await pacmanKey(['--add', file]);
    for (const key of keys) {
        // A local signature by the keyring's own master key: pacman then trusts the key fully.
        await pacmanKey(['--lsign-key', key.fingerprint]);
        info(`trusted: ${key.fingerprint} ${key.userId}`);
    }
    return { gpgDir: home, keys };
}
/**
 * The repositories as pacman checks them against a keyring: every package and database signed
 * (`Required`), but for the repository this run makes of the package files, whose database is
 * its own and unsigned: there only the packages (`Required DatabaseOptional`).
 */
function requireSignatures(repos, ownRepo) {
    return repos.map((repo) => ({
        ...repo,
        sigLevel: repo.name === ownRepo ? 'Required DatabaseOptional' : 'Required',
    }));
}
const SIGNATURE_PROBLEMS = [
    [
        /error: (\S+): signature from "(.*)" is invalid$/gm,
        (m) => `${m[1]}: its signature (by ${m[2]}) does not match it: changed after signing`,
    ],
    [/^error: (\S+): missing required signature$/gm, (m) => `${m[1]} is not signed`],
    [
        /error: failed retrieving file '(\S+?)\.sig' from/gm,
        (m) => `${m[1]} is not signed (no ${m[1]}.sig, none in its database)`,
    ],
    [
        /error: (\S+): key "(\S+)" is unknown$/gm,
        (m) => `${m[1]} is signed by ${m[2]}, a key not in keyring`,
    ],
    [
        // pacman names only the key here; the packages of the transaction are on its `Packages` line.
        /error: key "(\S+)" could not be looked up remotely$/gm,
        (m) => `one of the packages is signed by the key ${m[1]}, which is not in keyring`,
    ],
    [
        /error: (\S+): signature from "(.*)" is (unknown|marginal) trust$/gm,
        (m) => `${m[1]} is signed by ${m[2]}, whom keyring does not trust`,
    ],
    [
        /error: database '(\S+)' is not valid \((?:invalid or corrupted database \(PGP signature\)|missing required signature)\)$/gm,
        (m) => `the database of ${m[1]} is not signed by a key of keyring, or changed after signing`,
    ],
];
/** What pacman's output says about signatures it refused (pure): one line, or undefined. */
function describeSignatureProblems(output) {
    const found = SIGNATURE_PROBLEMS.flatMap(([pattern, describe]) => [...output.matchAll(pattern)].map(describe));
    if (found.length === 0)
        return undefined;
    const transaction = /^Packages \(\d+\)\s+(.+)$/m.exec(output)?.[1]?.trim().split(/\s+/);
    const among = transaction ? ` (installing ${transaction.join(', ')})` : '';
    return `${[...new Set(found)].join('; ')}${among}`;
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
function elf_readElfDependencies(file) {
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
            elfCache.set(host, elf_readElfDependencies(host));
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
        const host = resolveInRoot(root, path.posix.join(dir, library));
        const candidate = host === undefined ? undefined : readElfDependencies(host);
        if (candidate?.bits !== elf.bits || candidate.machine !== elf.machine)
            continue;
        const realDir = resolveInRoot(root, dir) ?? path.join(root, dir);
        return path.posix.join(`/${path.relative(root, realDir)}`, library);
    }
    return undefined;
}

;// CONCATENATED MODULE: external "node:stream/promises"
const external_node_stream_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/promises");
;// CONCATENATED MODULE: ./actions/core/src/tar.ts




const BLOCK = 512;
/** Bytes of each buffer of the stream (the last one may be shorter). */
const TAR_CHUNK_BYTES = 1024 * 1024;
/** The largest size a ustar size field holds (11 octal digits); above it, a pax `size` record. */
const USTAR_MAX_SIZE = 0o77777777777;
function writeString(block, offset, length, value) {
    block.write(value, offset, length, 'utf8');
}
/** Writes a zero-padded, NUL-terminated octal header field. */
function writeOctal(block, offset, length, value) {
    block.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'ascii');
}
/** Computes and writes a header block's checksum (the field counted as spaces). */
function writeChecksum(block) {
    block.fill(' ', 148, 156);
    let sum = 0;
    for (const byte of block)
        sum += byte;
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
}
/** One pax extended-header record: `<length> <key>=<value>\n`, the length counting itself. */
function paxRecord(key, value) {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (String(length).length + Buffer.byteLength(body) !== length) {
        length = String(length).length + Buffer.byteLength(body);
    }
    return `${length}${body}`;
}
/** A numeric header field: octal text, or base-256 when the high bit of its first byte is set. */
function parseNumeric(block, offset, length) {
    if ((block[offset] ?? 0) & 0x80) {
        let value = 0;
        for (let i = offset + 1; i < offset + length; i++)
            value = value * 256 + (block[i] ?? 0);
        return value;
    }
    const text = block
        .subarray(offset, offset + length)
        .toString('ascii')
        .replace(/[\0 ]+$/, '')
        .replace(/^[\0 ]+/, '');
    return text === '' ? 0 : parseInt(text, 8);
}
/** A NUL-terminated (or field-long) string header field. */
function tar_cString(block, offset, length) {
    const raw = block.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}
/** The `key=value` records of a pax extended header body, in order. */
function parsePaxRecords(body) {
    const records = [];
    let offset = 0;
    while (offset < body.length) {
        const space = body.indexOf(0x20, offset);
        if (space < 0)
            break;
        const length = parseInt(body.subarray(offset, space).toString('ascii'), 10);
        if (!Number.isFinite(length) || length <= 0)
            break;
        const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
        const equals = record.indexOf('=');
        if (equals > 0)
            records.push([record.slice(0, equals), record.slice(equals + 1)]);
        offset += length;
    }
    return records;
}
function fitsUstar(value, length) {
    return Buffer.byteLength(value) <= length && /^[\x20-\x7e]*$/.test(value);
}
function headerBlock(header) {
    const block = Buffer.alloc(BLOCK);
    writeString(block, 0, 100, header.name);
    writeOctal(block, 100, 8, header.mode);
    writeOctal(block, 108, 8, header.uid);
    writeOctal(block, 116, 8, header.gid);
    writeOctal(block, 124, 12, header.size);
    writeOctal(block, 136, 12, header.mtime);
    block.write(header.type, 156, 1, 'ascii');
    writeString(block, 157, 100, header.linkName ?? '');
    block.write('ustar\0', 257, 6, 'ascii');
    block.write('00', 263, 2, 'ascii');
    writeOctal(block, 329, 8, 0);
    writeOctal(block, 337, 8, 0);
    writeChecksum(block);
    return block;
}
function padding(size) {
    return Buffer.alloc(paddingBytes(size));
}
function paddingBytes(size) {
    const rest = size % BLOCK;
    return rest === 0 ? 0 : BLOCK - rest;
}
/**
 * TAR_CHUNK_BYTES buffers to fill, and to fill again once their consumer hands them back. A
 * fresh buffer a chunk is garbage only a full collection returns, and V8 lets such external
 * memory grow by tens of MiB before it runs one: reusing them keeps the stream's memory to the
 * chunks in flight. Only a consumer that holds no reference to a chunk may give it back.
 */
class ChunkPool {
    made = new WeakSet();
    free = [];
    take() {
        const reused = this.free.pop();
        if (reused)
            return reused;
        const chunk = Buffer.allocUnsafe(TAR_CHUNK_BYTES);
        this.made.add(chunk.buffer);
        return chunk;
    }
    /** Hands a whole chunk this pool made back for reuse; anything else is left to the GC. */
    give(chunk) {
        const whole = chunk.byteOffset === 0 && chunk.length === TAR_CHUNK_BYTES;
        if (whole && this.made.has(chunk.buffer) && !this.free.includes(chunk))
            this.free.push(chunk);
    }
}
/** Collects the tar stream into TAR_CHUNK_BYTES buffers; each full one is handed out once. */
class Chunker {
    pool;
    chunk;
    used = 0;
    constructor(pool = new ChunkPool()) {
        this.pool = pool;
        this.chunk = pool.take();
    }
    /** Copies `bytes` in; yields every chunk it fills. */
    *add(bytes) {
        let offset = 0;
        while (offset < bytes.length) {
            const copied = bytes.copy(this.chunk, this.used, offset);
            offset += copied;
            this.used += copied;
            if (this.used === TAR_CHUNK_BYTES)
                yield this.next();
        }
    }
    /** Reads `size` bytes of `fd` straight into the chunks, then the padding; yields full ones. */
    *addFile(fd, size, name) {
        let position = 0;
        while (position < size) {
            const want = Math.min(TAR_CHUNK_BYTES - this.used, size - position);
            const read = external_node_fs_namespaceObject.readSync(fd, this.chunk, this.used, want, position);
            if (read === 0)
                throw new errors_UserError(`${name} shrank while it was being read.`);
            position += read;
            this.used += read;
            if (this.used === TAR_CHUNK_BYTES)
                yield this.next();
        }
        yield* this.add(Buffer.alloc(paddingBytes(size)));
    }
    /** What is left, shorter than a chunk. */
    rest() {
        return this.chunk.subarray(0, this.used);
    }
    next() {
        const full = this.chunk;
        this.chunk = this.pool.take();
        this.used = 0;
        return full;
    }
}
/** The header blocks of one entry: a pax header first when a name does not fit ustar. */
function headerBlocks(header) {
    const records = [];
    if (!fitsUstar(header.name, 100))
        records.push(paxRecord('path', header.name));
    if (header.linkName !== undefined && !fitsUstar(header.linkName, 100)) {
        records.push(paxRecord('linkpath', header.linkName));
    }
    const bigSize = header.size > USTAR_MAX_SIZE;
    // As GNU tar's posix format does: the size in the pax record, 0 in the ustar field.
    if (bigSize)
        records.push(paxRecord('size', String(header.size)));
    const main = headerBlock({
        ...header,
        size: bigSize ? 0 : header.size,
        name: records.length ? truncateUtf8(header.name, 100) : header.name,
        linkName: header.linkName === undefined ? undefined : truncateUtf8(header.linkName, 100),
    });
    if (records.length === 0)
        return [main];
    const body = Buffer.from(records.join(''), 'utf8');
    const pax = headerBlock({
        name: truncateUtf8(`PaxHeaders/${external_node_path_namespaceObject.posix.basename(header.name)}`, 100),
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: body.length,
        mtime: header.mtime,
        type: 'x',
    });
    return [pax, body, padding(body.length), main];
}
function truncateUtf8(value, bytes) {
    const buffer = Buffer.from(value, 'utf8');
    return buffer.length <= bytes ? value : buffer.subarray(0, bytes).toString('latin1');
}
function byName(a, b) {
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
/** The tar stream of `root` in TAR_CHUNK_BYTES buffers, ending with the two zero blocks. */
function* tarStream(root, options) {
    const firstPathOfInode = new Map();
    const chunker = new Chunker(options.pool);
    const mtimeOf = (seconds) => options.mtimeClamp === undefined ? seconds : Math.min(seconds, options.mtimeClamp);
    const headers = function* (header) {
        for (const block of headerBlocks(header))
            yield* chunker.add(block);
    };
    // Directories not selected themselves, walked into, and not written yet (outermost first).
    const unwrittenDirs = [];
    const entry = function* (header) {
        for (const dir of unwrittenDirs)
            yield* headers(dir);
        unwrittenDirs.length = 0;
        yield* headers(header);
    };
    function* walk(relativeDir) {
        const names = external_node_fs_namespaceObject.readdirSync(external_node_path_namespaceObject.join(root, relativeDir)).sort(byName);
        for (const name of names) {
            const relative = relativeDir ? `${relativeDir}/${name}` : name;
            if (options.exclude?.(relative))
                continue;
            const full = external_node_path_namespaceObject.join(root, relative);
            const stat = external_node_fs_namespaceObject.lstatSync(full);
            const base = {
                mode: stat.mode & 0o7777,
                uid: options.owners === 'root' ? 0 : stat.uid,
                gid: options.owners === 'root' ? 0 : stat.gid,
                mtime: mtimeOf(Math.floor(stat.mtimeMs / 1000)),
                size: 0,
            };
            const selected = options.select?.(relative) ?? true;
            if (stat.isDirectory()) {
                const header = { ...base, name: `${relative}/`, type: '5' };
                if (selected)
                    yield* entry(header);
                else
                    unwrittenDirs.push(header);
                yield* walk(relative);
                if (unwrittenDirs[unwrittenDirs.length - 1] === header)
                    unwrittenDirs.pop();
                continue;
            }
            if (!selected)
                continue;
            if (stat.isSymbolicLink()) {
                const target = external_node_fs_namespaceObject.readlinkSync(full);
                yield* entry({ ...base, name: relative, type: '2', linkName: target });
            }
            else if (stat.isFile()) {
                const inode = `${stat.dev}:${stat.ino}`;
                const first = stat.nlink > 1 ? firstPathOfInode.get(inode) : undefined;
                if (first !== undefined) {
                    yield* entry({ ...base, name: relative, type: '1', linkName: first });
                    continue;
                }
                if (stat.nlink > 1)
                    firstPathOfInode.set(inode, relative);
                yield* entry({ ...base, name: relative, type: '0', size: stat.size });
                const fd = external_node_fs_namespaceObject.openSync(full, 'r');
                try {
                    yield* chunker.addFile(fd, stat.size, full);
                }
                finally {
                    external_node_fs_namespaceObject.closeSync(fd);
                }
            }
            else if (stat.isFIFO()) {
                yield* entry({ ...base, name: relative, type: '6' });
            }
            // Device nodes and sockets are never written: a root image must not carry them.
        }
    }
    yield* walk('');
    yield* chunker.add(Buffer.alloc(BLOCK * 2));
    const rest = chunker.rest();
    if (rest.length > 0)
        yield rest;
}
/** Writes the tar of `root` to `file`. */
async function writeTar(root, file, options) {
    await (0,external_node_stream_promises_namespaceObject.pipeline)(tarStream(root, options), external_node_fs_namespaceObject.createWriteStream(file));
}
/** SOURCE_DATE_EPOCH from the environment, when set; a value that is not seconds is an error. */
function sourceDateEpoch() {
    const value = process.env.SOURCE_DATE_EPOCH?.trim();
    if (value === undefined || value === '')
        return undefined;
    if (!/^\d+$/.test(value)) {
        throw new errors_UserError(`SOURCE_DATE_EPOCH "${value}" is not a number of seconds since 1970.`);
    }
    return Number(value);
}

;// CONCATENATED MODULE: ./actions/core/src/purl.ts
/**
 * Package URLs of a root's pacman packages, of purl's `alpm` type: make-chroot's SBOMs and
 * import-image's provenance name the packages the same way (docs/dev/sbom.md).
 */
/**
 * The distribution a root's packages come from, as purl's alpm type names it (the namespace):
 * Arch Linux for x86_64, Arch Linux 32 for i686.
 */
function purlNamespace(arch) {
    return arch === 'i686' ? 'arch32' : 'arch';
}
/** purl's percent-encoding of one component; `:` (the epoch separator) stays as it is. */
function purlEncode(text) {
    return encodeURIComponent(text).replace(/%3A/g, ':');
}
/** `pkg:alpm/<distribution>/<name>@<version>?arch=<arch>` (pure). */
function packageUrl(rootArch, entry) {
    const name = purlEncode(entry.name.toLowerCase());
    return `pkg:alpm/${purlNamespace(rootArch)}/${name}@${purlEncode(entry.version)}?arch=${purlEncode(entry.arch)}`;
}

;// CONCATENATED MODULE: ./actions/make-chroot/src/sbom-licenses.ts

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
];
const SPDX_EXCEPTIONS = [
    'Autoconf-exception-3.0',
    'Bison-exception-2.2',
    'Classpath-exception-2.0',
    'GCC-exception-3.1',
    'LLVM-exception',
    'OpenSSL-exception',
];
/** The licenses this module writes as SPDX identifiers (for tests that check them). */
const KNOWN_SPDX_LICENSES = (/* unused pure expression or super */ null && (SPDX_LICENSES));
const byLowerCase = (names) => new Map(names.map((name) => [name.toLowerCase(), name]));
const LICENSES = byLowerCase(SPDX_LICENSES);
const EXCEPTIONS = byLowerCase(SPDX_EXCEPTIONS);
/** `text` as an SPDX idstring (letters, digits, `.` and `-`), made unique when changed. */
function spdxIdString(text) {
    const plain = text.replace(/[^A-Za-z0-9.-]+/g, '-');
    if (plain === text)
        return text;
    // Two names that differ only in the replaced characters must not share an id.
    return `${plain}-${(0,external_node_crypto_namespaceObject.createHash)('sha256').update(text).digest('hex').slice(0, 8)}`;
}
/**
 * One license entry as an SPDX expression in canonical case, or undefined when it is not one of
 * listed identifiers joined by AND, OR, WITH and parentheses (pure).
 */
function spdxExpressionOf(entry) {
    const tokens = entry.match(/\(|\)|[^\s()]+/g) ?? [];
    let at = 0;
    const next = () => tokens[at];
    const compound = () => {
        const parts = [conjunction()];
        while (next() === 'OR') {
            at += 1;
            parts.push(conjunction());
        }
        return parts.includes(undefined) ? undefined : parts.join(' OR ');
    };
    const conjunction = () => {
        const parts = [term()];
        while (next() === 'AND') {
            at += 1;
            parts.push(term());
        }
        return parts.includes(undefined) ? undefined : parts.join(' AND ');
    };
    const term = () => {
        const token = tokens[at++];
        if (token === '(') {
            const inner = compound();
            return tokens[at++] === ')' && inner !== undefined ? `(${inner})` : undefined;
        }
        const plus = token?.endsWith('+') ? '+' : '';
        const license = LICENSES.get((plus ? token.slice(0, -1) : (token ?? '')).toLowerCase());
        if (license === undefined)
            return undefined;
        if (next() !== 'WITH')
            return `${license}${plus}`;
        at += 1;
        const exception = EXCEPTIONS.get((tokens[at++] ?? '').toLowerCase());
        return exception === undefined ? undefined : `${license}${plus} WITH ${exception}`;
    };
    const expression = compound();
    return at === tokens.length ? expression : undefined;
}
function licenseRefOf(text) {
    return { id: `LicenseRef-${spdxIdString(text)}`, name: text };
}
/** A package's license entries, each mapped, and all of them as one expression (pure). */
function packageLicense(entries) {
    const mapped = entries.map((text) => {
        const spdx = spdxExpressionOf(text);
        return spdx === undefined ? { text, ref: licenseRefOf(text) } : { text, spdx };
    });
    if (mapped.length === 0)
        return { entries: [] };
    const parts = mapped.map((entry) => {
        const part = entry.spdx ?? entry.ref.id;
        return mapped.length > 1 && / (AND|OR) /.test(part) ? `(${part})` : part;
    });
    // pacman lists every license the package's files come under: all of them apply.
    return { expression: parts.join(' AND '), entries: mapped };
}

;// CONCATENATED MODULE: ./actions/make-chroot/src/sbom.ts







/** Every package of the local database under `dbPath` (`ROOT/var/lib/pacman`), by name. */
async function readLocalPackages(dbPath) {
    const local = external_node_path_namespaceObject.join(dbPath, 'local');
    const packages = [];
    const entries = await promises_namespaceObject.readdir(local, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
        if (!entry.isDirectory())
            continue;
        const desc = parseDesc(await promises_namespaceObject.readFile(external_node_path_namespaceObject.join(local, entry.name, 'desc'), 'utf8'));
        const name = desc.NAME?.[0];
        const version = desc.VERSION?.[0];
        if (name === undefined || version === undefined)
            continue;
        packages.push({
            name,
            version,
            arch: desc.ARCH?.[0] ?? 'any',
            licenses: desc.LICENSE ?? [],
            description: desc.DESC?.[0],
            url: desc.URL?.[0],
        });
    }
    return packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
/** A fixed namespace for the name-based UUIDs of these documents (RFC 9562 version 5). */
const UUID_NAMESPACE = Buffer.from('5c0e43a1b7e44d0a9a3f6f1e8d2c7b90', 'hex');
/** The version-5 UUID of `name` in this module's namespace (pure). */
function nameBasedUuid(name) {
    const hash = (0,external_node_crypto_namespaceObject.createHash)('sha1').update(UUID_NAMESPACE).update(name).digest();
    hash[6] = (hash[6] & 0x0f) | 0x50;
    hash[8] = (hash[8] & 0x3f) | 0x80;
    const hex = hash.subarray(0, 16).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
/** The document's identity: a UUID of everything it describes, per format (pure). */
function subjectUuid(format, subject) {
    return nameBasedUuid(`${format}\n${JSON.stringify(subject)}`);
}
const ROOT_NAME = 'arch-core-root';
const TOOL = 'arch-core-make-chroot';
function rootVersion(subject) {
    return subject.app?.version;
}
/** What the app record says of the app's source, as one line. */
function appSourceLine(app) {
    if (app.vcs === 'none')
        return `${app.name} ${app.version}, built without version control`;
    const parts = [
        app.revision === undefined ? undefined : `revision ${app.revision}`,
        app.hash === undefined ? undefined : `hash ${app.hash}`,
        app.commit === undefined ? undefined : `commit ${app.commit}`,
        app.commitTime === undefined ? undefined : `committed ${app.commitTime}`,
        app.source === undefined ? undefined : `from ${app.source}`,
    ].filter((part) => part !== undefined);
    return `${app.name} ${app.version}, built from ${app.vcs} ${parts.join(', ')}`;
}
/** SPDX's VCS download location (`hg+https://host/repo@commit`), when the record knows it. */
function vcsDownloadLocation(app) {
    if (app.vcs === 'none' || app.source === undefined || !/^[a-z+]+:\/\//.test(app.source)) {
        return undefined;
    }
    const revision = app.commit ?? app.hash;
    return `${app.vcs}+${app.source}${revision === undefined ? '' : `@${revision}`}`;
}
function spdxPackageId(name) {
    return `SPDXRef-Package-${spdxIdString(name)}`;
}
/** The SPDX 2.3 document of the root (pure). */
function spdxDocument(subject) {
    const refs = new Map();
    const packages = subject.packages.map((entry) => {
        const license = packageLicense(entry.licenses);
        for (const item of license.entries)
            if (item.ref)
                refs.set(item.ref.id, item.ref);
        const isApp = entry.name === subject.app?.name;
        const spdx = {
            SPDXID: spdxPackageId(entry.name),
            name: entry.name,
            versionInfo: entry.version,
            downloadLocation: (isApp && vcsDownloadLocation(subject.app)) || 'NOASSERTION',
            filesAnalyzed: false,
            licenseConcluded: 'NOASSERTION',
            licenseDeclared: license.expression ?? 'NOASSERTION',
            copyrightText: 'NOASSERTION',
            externalRefs: [
                {
                    referenceCategory: 'PACKAGE-MANAGER',
                    referenceType: 'purl',
                    referenceLocator: packageUrl(subject.arch, entry),
                },
            ],
        };
        if (entry.url !== undefined)
            spdx.homepage = entry.url;
        if (entry.description !== undefined)
            spdx.summary = entry.description;
        if (isApp) {
            spdx.primaryPackagePurpose = 'APPLICATION';
            spdx.sourceInfo = appSourceLine(subject.app);
        }
        return spdx;
    });
    const root = {
        SPDXID: 'SPDXRef-Root',
        name: ROOT_NAME,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        primaryPackagePurpose: 'CONTAINER',
        comment: `The ${subject.arch} root make-chroot installed: every package of its pacman database.`,
    };
    const version = rootVersion(subject);
    if (version !== undefined)
        root.versionInfo = version;
    const document = {
        spdxVersion: 'SPDX-2.3',
        dataLicense: 'CC0-1.0',
        SPDXID: 'SPDXRef-DOCUMENT',
        name: subject.app ? `${subject.app.name}-${subject.app.version}-${subject.arch}` : ROOT_NAME,
        documentNamespace: `urn:uuid:${subjectUuid('spdx', subject)}`,
        creationInfo: { created: subject.created, creators: [`Tool: ${TOOL}`] },
        documentDescribes: ['SPDXRef-Root'],
        packages: [root, ...packages],
        relationships: [
            {
                spdxElementId: 'SPDXRef-DOCUMENT',
                relationshipType: 'DESCRIBES',
                relatedSpdxElement: 'SPDXRef-Root',
            },
            ...packages.map((entry) => ({
                spdxElementId: 'SPDXRef-Root',
                relationshipType: 'CONTAINS',
                relatedSpdxElement: entry.SPDXID,
            })),
        ],
    };
    if (refs.size > 0) {
        document.hasExtractedLicensingInfos = [...refs.values()]
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .map((ref) => ({
            licenseId: ref.id,
            name: ref.name,
            extractedText: `The package metadata names this license "${ref.name}"; its text is among the package's files (usually under /usr/share/licenses).`,
        }));
    }
    return document;
}
/** CycloneDX `licenses` of one package: SPDX ids or one expression, else the names (pure). */
function cyclonedxLicenses(entries) {
    const license = packageLicense(entries);
    if (license.expression === undefined)
        return [];
    const allSpdx = license.entries.every((entry) => entry.spdx !== undefined);
    const simpleId = (text) => /^[A-Za-z0-9.-]+$/.test(text ?? '');
    if (allSpdx && !license.entries.every((entry) => simpleId(entry.spdx))) {
        return [{ expression: license.expression }];
    }
    return license.entries.map((entry) => ({
        license: simpleId(entry.spdx) ? { id: entry.spdx } : { name: entry.text },
    }));
}
function appPedigree(app) {
    const uid = app.commit ?? app.hash;
    if (app.vcs === 'none' || uid === undefined)
        return undefined;
    const commit = { uid };
    if (app.source !== undefined)
        commit.url = app.source;
    if (app.commitTime !== undefined)
        commit.committer = { timestamp: app.commitTime };
    return { commits: [commit] };
}
function appProperties(app) {
    const values = [
        ['vcs', app.vcs],
        ['vcs-revision', app.revision],
        ['vcs-hash', app.hash],
        ['vcs-commit', app.commit],
    ];
    return values
        .filter((pair) => pair[1] !== undefined)
        .map(([name, value]) => ({ name: `arch-core:${name}`, value }));
}
/** The CycloneDX 1.6 document of the root (pure). */
function cyclonedxDocument(subject) {
    const components = subject.packages.map((entry) => {
        const purl = packageUrl(subject.arch, entry);
        const isApp = entry.name === subject.app?.name;
        const component = {
            type: isApp ? 'application' : 'library',
            'bom-ref': purl,
            name: entry.name,
            version: entry.version,
            purl,
        };
        if (entry.description !== undefined)
            component.description = entry.description;
        const licenses = cyclonedxLicenses(entry.licenses);
        if (licenses.length > 0)
            component.licenses = licenses;
        if (entry.url !== undefined)
            component.externalReferences = [{ type: 'website', url: entry.url }];
        if (isApp) {
            const pedigree = appPedigree(subject.app);
            if (pedigree)
                component.pedigree = pedigree;
            component.properties = appProperties(subject.app);
        }
        return component;
    });
    const root = { type: 'container', 'bom-ref': 'root', name: ROOT_NAME };
    const version = rootVersion(subject);
    if (version !== undefined)
        root.version = version;
    root.properties = [{ name: 'arch-core:arch', value: subject.arch }];
    return {
        bomFormat: 'CycloneDX',
        specVersion: '1.6',
        serialNumber: `urn:uuid:${subjectUuid('cyclonedx', subject)}`,
        version: 1,
        metadata: {
            timestamp: subject.created,
            tools: { components: [{ type: 'application', name: TOOL }] },
            component: root,
        },
        components,
        dependencies: [{ ref: 'root', dependsOn: components.map((entry) => entry['bom-ref']) }],
    };
}
/** A document's bytes: two-space JSON and a newline. */
function documentBytes(document) {
    return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}
/** Writes both documents into the root (before it is published, so atomically with it). */
async function writeSboms(rootDir, subject) {
    const documents = [
        [SBOM_SPDX_PATH_IN_ROOT, spdxDocument(subject)],
        [SBOM_CYCLONEDX_PATH_IN_ROOT, cyclonedxDocument(subject)],
    ];
    for (const [inRoot, document] of documents) {
        const file = external_node_path_namespaceObject.join(rootDir, inRoot);
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(file), { recursive: true });
        await promises_namespaceObject.writeFile(file, documentBytes(document), { mode: 0o644 });
    }
}

;// CONCATENATED MODULE: ./actions/make-chroot/src/package-files.ts




async function packageFilesIn(dir) {
    const names = await promises_namespaceObject.readdir(dir).catch(() => []);
    return names.filter((name) => isPackageFileName(name)).sort();
}
/**
 * The file each installed package came from, hashed here: pacman names a package's file
 * `NAME-VERSION-ARCH.pkg.tar.*`, and keeps what it fetched in its cache directory (a local
 * repository's files may be read in place, so its directory is searched after the cache).
 * A package whose file is in none of them is left out.
 */
async function installedPackageFiles(installed, dirs) {
    const listed = await Promise.all(dirs.map(async (dir) => ({ dir, names: await packageFilesIn(dir) })));
    const found = new Map();
    for (const entry of installed) {
        const prefix = `${entry.name}-${entry.version}-${entry.arch}.pkg.tar`;
        for (const { dir, names } of listed) {
            const name = names.find((candidate) => candidate.startsWith(prefix));
            if (name === undefined)
                continue;
            found.set(entry.name, { file: name, sha256: await sha256File(external_node_path_namespaceObject.join(dir, name)) });
            break;
        }
    }
    return found;
}

;// CONCATENATED MODULE: ./actions/make-chroot/src/inputs.ts







const PRESETS = ['minimal', 'base'];
/** The repository the given package files are served from (a reserved name). */
const INPUT_REPO_NAME = 'arch-core-input';
const LIBRARY_CHECK_MODES = ['error', 'warn', 'off'];
/** A pacman package name, optionally `repo/name`. */
const PACKAGE_NAME = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[a-z0-9@_+][a-z0-9@._+-]*$/;
function checkPackageNames(names, input) {
    for (const name of names) {
        if (!PACKAGE_NAME.test(name)) {
            throw new errors_InputError(input, `"${name}" is not a package name (lowercase letters, digits, @ . _ + -, optionally repo/name).`);
        }
    }
    return [...names];
}
function checkMirror(value, input) {
    if (value === 'auto' || value === 'none')
        return value;
    if (!isUrl(value) || /\s/.test(value)) {
        throw new errors_InputError(input, `"${value}" is not a server URL pattern (e.g. https://host/$repo/os/$arch), "auto" or "none".`);
    }
    return value;
}
function checkSignatureLevel(value) {
    const words = value.split(/\s+/);
    const known = /^(?:(?:Package|Database)?(?:Never|Optional|Required|TrustedOnly|TrustAll))$/;
    for (const word of words) {
        if (!known.test(word)) {
            throw new errors_InputError('signature-level', `"${word}" is not a pacman SigLevel word (e.g. Required DatabaseOptional, Optional TrustAll, Never).`);
        }
    }
    return words.join(' ');
}
/** Parses the `repos` lines (pure). */
function parseRepos(lines, signatureLevel) {
    const repos = lines.map((line) => parseRepoLine(line, 'repos', signatureLevel));
    for (const repo of repos) {
        if (repo.name === INPUT_REPO_NAME) {
            throw new errors_InputError('repos', `the repository name "${INPUT_REPO_NAME}" is reserved for package-files; choose another name.`);
        }
    }
    const names = repos.map((repo) => repo.name);
    const twice = names.find((name, index) => names.indexOf(name) !== index);
    if (twice)
        throw new errors_InputError('repos', `the repository "${twice}" is given twice.`);
    return repos;
}
function parseInputs(raw) {
    const read = inputReader(raw);
    const signatureLevel = checkSignatureLevel(read.required('signature-level'));
    const arch = read.oneOf('arch', ARCHES);
    const preset = read.oneOf('preset', PRESETS);
    const packages = checkPackageNames(read.list('packages'), 'packages');
    const packageFiles = read.list('package-files').map((file) => external_node_path_namespaceObject.resolve(file));
    if (packages.length === 0 && packageFiles.length === 0 && preset !== 'base') {
        throw new errors_InputError('packages', 'is required (one package name a line) unless package-files is given.');
    }
    const mirrorRepoNames = read.list('mirror-repos');
    for (const name of mirrorRepoNames)
        checkRepoName(name, 'mirror-repos');
    const root = read.optional('root');
    const tarball = read.optional('tarball');
    const app = read.optional('app');
    if (app !== undefined)
        checkPackageNames([app], 'app');
    const keyring = read.optional('keyring');
    if (keyring !== undefined)
        checkArmoredPublicKeys('keyring', keyring);
    return {
        packages,
        packageFiles,
        repos: parseRepos(read.list('repos'), signatureLevel),
        mirror: checkMirror(read.required('mirror'), 'mirror'),
        mirrorI686: checkMirror(read.required('mirror-i686'), 'mirror-i686'),
        mirrorX86_64: checkMirror(read.required('mirror-x86-64'), 'mirror-x86-64'),
        mirrorRepos: mirrorRepoNames,
        arch,
        preset,
        app,
        root: root === undefined ? undefined : external_node_path_namespaceObject.resolve(root),
        strip: read.boolean('strip'),
        keepPackageDb: read.boolean('keep-package-db'),
        tarball: tarball === undefined ? undefined : external_node_path_namespaceObject.resolve(tarball),
        signatureLevel,
        allowScriptletFailures: read.boolean('allow-scriptlet-failures'),
        checkLibraries: read.oneOf('check-libraries', LIBRARY_CHECK_MODES),
        gpgDir: external_node_path_namespaceObject.resolve(read.required('gpg-dir')),
        keyring,
    };
}
/** The server pattern for the distribution's repositories, or undefined for `mirror: none`. */
function mirrorPattern(inputs) {
    if (inputs.mirror === 'none')
        return undefined;
    if (inputs.mirror !== 'auto')
        return inputs.mirror;
    return inputs.arch === 'i686' ? inputs.mirrorI686 : inputs.mirrorX86_64;
}
/**
 * Every repository, in pacman's order: the given package files first, then `repos`, then the
 * distribution's through the mirror (pure).
 */
function repositories(inputs, inputRepoDir) {
    const repos = [];
    if (inputRepoDir !== undefined) {
        repos.push({ name: INPUT_REPO_NAME, servers: [`file://${inputRepoDir}`], sigLevel: 'Never' });
    }
    repos.push(...inputs.repos);
    const pattern = mirrorPattern(inputs);
    if (pattern !== undefined) {
        const taken = new Set(repos.map((repo) => repo.name));
        const clash = inputs.mirrorRepos.find((name) => taken.has(name));
        if (clash) {
            throw new errors_InputError('repos', `the repository "${clash}" is also a mirror repository; rename it or use mirror: none.`);
        }
        repos.push(...mirrorRepos(pattern, inputs.mirrorRepos, inputs.signatureLevel));
    }
    return repos;
}
/**
 * What pacman is asked to install (pure): for the `base` preset the `base` group first, then the
 * listed packages, then the package files' packages from their own repository.
 */
function installTargets(inputs, packageFileNames) {
    const targets = [];
    if (inputs.preset === 'base')
        targets.push('base');
    const fromFiles = new Set(packageFileNames);
    for (const name of inputs.packages) {
        if (!fromFiles.has(name) && !targets.includes(name))
            targets.push(name);
    }
    for (const name of packageFileNames)
        targets.push(`${INPUT_REPO_NAME}/${name}`);
    return targets;
}
/** pacman's arguments for the install transaction: sync the databases, install (pure). */
function installArgs(targets) {
    return ['-Sy', '--needed', ...targets];
}
/** NoExtract patterns for `strip` (pure). */
function noExtractFor(strip) {
    return strip ? STRIP_NO_EXTRACT : [];
}
/** The default root: a new directory under RUNNER_TEMP. */
function defaultRoot(arch) {
    const unique = `${Date.now().toString(36)}-${process.pid}`;
    return external_node_path_namespaceObject.join(tempRoot(), `arch-core-root-${arch}-${unique}`);
}

;// CONCATENATED MODULE: ./actions/make-chroot/src/main.ts

















/** make-chroot needs root: pacman writes root-owned files and sets their owners and modes. */
function checkPrivileges(uid = process.getuid?.()) {
    if (uid !== undefined && uid !== 0) {
        throw new errors_UserError('make-chroot must run as root (uid 0): pacman installs files owned by root with their ' +
            'modes. Run the job as root (a root container, or sudo), or under fakeroot.');
    }
}
/**
 * Under fakeroot the files on disk belong to the real user, and Node's own stat calls are not
 * faked: the tarball then records every entry as owned by root (what fakeroot pretends).
 */
function tarOwners(env = process.env) {
    return env.FAKEROOTKEY ? 'root' : 'preserve';
}
async function readPackageFiles(inputs) {
    const files = [];
    for (const file of inputs.packageFiles) {
        if (!(await exists(file))) {
            throw new errors_InputError('package-files', `${file} does not exist.`);
        }
        const info = await readPackageInfo(file);
        if (info.arch !== 'any' && info.arch !== inputs.arch) {
            throw new errors_InputError('package-files', `${external_node_path_namespaceObject.basename(file)} is built for ${info.arch}, not for arch ${inputs.arch}.`);
        }
        if (files.some((other) => other.name === info.name)) {
            throw new errors_InputError('package-files', `two files hold the package ${info.name}.`);
        }
        files.push({ file, name: info.name, version: info.version, app: await readAppInfo(file) });
    }
    return files;
}
/**
 * The manifest's `app` (pure): the named app, else the first package file build-package made.
 * `recordInRepos` is the app record found beside the named app's file in a local repository.
 */
function appOf(appName, packageFiles, installed, recordInRepos) {
    const named = appName?.includes('/') ? appName.split('/').pop() : appName;
    const candidate = named === undefined
        ? packageFiles.find((file) => file.app !== undefined)
        : packageFiles.find((file) => file.name === named);
    const name = named ?? candidate?.app?.name;
    if (name === undefined)
        return undefined;
    const package_ = installed.find((entry) => entry.name === name);
    if (!package_) {
        throw new errors_InputError('app', `"${name}" is not among the installed packages.`);
    }
    const record = candidate?.app ?? (recordInRepos?.name === name ? recordInRepos : undefined);
    const info = record ?? { name, version: package_.version, vcs: 'none' };
    return { ...info, name, version: package_.version };
}
/** The app record build-package left beside `name-version`'s file in a local repository. */
async function findAppRecord(name, version, repos) {
    for (const repo of repos) {
        for (const server of repo.servers) {
            const dir = localDirectoryOf(server);
            if (dir === undefined)
                continue;
            let names;
            try {
                names = await promises_namespaceObject.readdir(dir);
            }
            catch {
                continue;
            }
            const prefix = `${name}-${version}-`;
            for (const file of names.sort()) {
                if (!file.startsWith(prefix) || !isPackageFileName(file))
                    continue;
                // name-version-arch.pkg.tar.*: the arch part must not hide a longer name.
                if (file.slice(prefix.length).includes('-'))
                    continue;
                const record = await readAppInfo(external_node_path_namespaceObject.join(dir, file));
                if (record)
                    return record;
            }
        }
    }
    return undefined;
}
function isoSeconds(date) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** The manifest (pure); `files` gives each package's file and sha256 where it was found. */
function makeManifest(arch, app, installed, created, files = new Map()) {
    const manifest = {
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
    if (app)
        manifest.app = app;
    return manifest;
}
function describeRepo(repo) {
    return `${repo.name} (${repo.servers.join(', ')})`;
}
async function removeIfEmpty(dir) {
    try {
        await promises_namespaceObject.rmdir(dir);
    }
    catch {
        // not empty, or absent
    }
}
/** Installs into `rootDir` (the temporary sibling of the output root). */
async function makeRoot(inputs, packageFiles, rootDir, work) {
    await promises_namespaceObject.mkdir(rootDir, { recursive: true, mode: 0o755 });
    await promises_namespaceObject.chmod(rootDir, 0o755);
    const dbPath = external_node_path_namespaceObject.join(rootDir, 'var/lib/pacman');
    await promises_namespaceObject.mkdir(dbPath, { recursive: true });
    const unsignedRepos = await prepareRepositories(inputs, packageFiles, work);
    const { configFile, repos, scriptletFailures } = await withKeyring(inputs.keyring, async (keyring) => {
        const repos = keyring ? requireSignatures(unsignedRepos, INPUT_REPO_NAME) : unsignedRepos;
        const configFile = await writePacmanConf(inputs, repos, rootDir, dbPath, work, keyring);
        const targets = installTargets(inputs, packageFiles.map((entry) => entry.name));
        return { configFile, repos, scriptletFailures: await install(configFile, targets, repos) };
    });
    const libraries = inputs.checkLibraries === 'off'
        ? undefined
        : await checkLibraries(rootDir, inputs.checkLibraries, configFile, work);
    // The sync databases are this run's working state, never part of the root.
    await promises_namespaceObject.rm(external_node_path_namespaceObject.join(dbPath, 'sync'), { recursive: true, force: true });
    const installed = queryInstalled(dbPath);
    const epoch = sourceDateEpoch();
    if (epoch !== undefined)
        await clampInstallDates(dbPath, epoch);
    // Read before the database may be removed: the SBOMs list what it records.
    const sbomPackages = await readLocalPackages(dbPath);
    if (!inputs.keepPackageDb) {
        await promises_namespaceObject.rm(external_node_path_namespaceObject.join(dbPath, 'local'), { recursive: true, force: true });
        await removeIfEmpty(dbPath);
        await removeIfEmpty(external_node_path_namespaceObject.dirname(dbPath));
    }
    const created = epoch !== undefined ? new Date(epoch * 1000) : new Date();
    const localDirs = repos.flatMap((repo) => repo.servers.map(localDirectoryOf));
    const files = await installedPackageFiles(installed, [
        external_node_path_namespaceObject.join(work, 'cache'),
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
async function checkLibraries(rootDir, mode, configFile, work) {
    return group('Check that the programs can load their libraries', async () => {
        const report = checkRootLibraries(rootDir);
        info(`${report.objects} ELF programs and libraries, ${report.references} interpreter and library references: ${report.misses.length} missing.`);
        if (report.misses.length === 0)
            return report;
        const names = [...new Set(report.misses.map((miss) => external_node_path_namespaceObject.posix.basename(miss.missing)))];
        const providers = await findFileProviders(configFile, external_node_path_namespaceObject.join(work, 'files-db'), names);
        const described = report.misses.map((miss) => describeMiss(miss, providers));
        for (const line of described)
            info(line);
        const more = described.length > MISSES_NAMED
            ? ` (and ${described.length - MISSES_NAMED} more, listed in the log)`
            : '';
        if (mode === 'warn') {
            for (const line of described.slice(0, MISSES_NAMED))
                warning(line);
            if (more)
                warning(`check-libraries: ${described.length} misses in all${more}.`);
            return report;
        }
        throw new errors_UserError(`The root cannot run what it holds: ${described.slice(0, MISSES_NAMED).join('; ')}${more}. Add the packages that provide them, or set check-libraries: warn.`);
    });
}
function describeMiss(miss, providers) {
    const name = external_node_path_namespaceObject.posix.basename(miss.missing);
    const holders = providers.filter((provider) => external_node_path_namespaceObject.posix.basename(provider.file) === name);
    const inPackages = holders.length === 0
        ? ''
        : `, which ${[...new Set(holders.map((holder) => `${holder.name} (${holder.repo})`))].join(' or ')} provides`;
    const what = miss.kind === 'interpreter' ? 'its interpreter' : 'the library';
    return `${miss.object} needs ${what} ${miss.missing}, not in the root${inPackages}`;
}
/** Every repository to install from, the package files' own one made in `work`; each checked. */
async function prepareRepositories(inputs, packageFiles, work) {
    let inputRepoDir;
    if (packageFiles.length > 0) {
        inputRepoDir = external_node_path_namespaceObject.join(work, 'input-repo');
        await makeLocalRepo(inputRepoDir, INPUT_REPO_NAME, packageFiles.map((entry) => entry.file));
    }
    const repos = repositories(inputs, inputRepoDir);
    for (const repo of inputs.repos) {
        const dir = repo.servers[0] === undefined ? undefined : localDirectoryOf(repo.servers[0]);
        if (dir !== undefined && !(await exists(external_node_path_namespaceObject.join(dir, `${repo.name}.db`)))) {
            throw new errors_InputError('repos', `${dir} has no ${repo.name}.db: it is not a pacman repository named ${repo.name} (make one with repo-add).`);
        }
    }
    if (repos.length === 0) {
        throw new errors_InputError('repos', 'no repository to install from: give repos, or a mirror.');
    }
    return repos;
}
/** The run's pacman.conf in `work`, with its own cache, hooks and log there. */
async function writePacmanConf(inputs, repos, rootDir, dbPath, work, keyring) {
    for (const sub of ['cache', 'hooks'])
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.join(work, sub));
    const configFile = external_node_path_namespaceObject.join(work, 'pacman.conf');
    await promises_namespaceObject.writeFile(configFile, pacmanConf({
        rootDir,
        dbPath,
        cacheDir: external_node_path_namespaceObject.join(work, 'cache'),
        hookDir: external_node_path_namespaceObject.join(work, 'hooks'),
        logFile: external_node_path_namespaceObject.join(work, 'pacman.log'),
        gpgDir: keyring?.gpgDir ?? inputs.gpgDir,
        arch: inputs.arch,
        sigLevel: keyring ? 'Required' : inputs.signatureLevel,
        localFileSigLevel: keyring ? 'Required' : 'Optional',
        noExtract: noExtractFor(inputs.strip),
        repos,
    }));
    info(`Repositories, in order: ${repos.map(describeRepo).join('; ')}`);
    return configFile;
}
/** Installs `targets` and their dependencies; gives the packages whose scriptlet could not run. */
async function install(configFile, targets, repos) {
    // One pacman run synchronises and installs. When a target or a dependency is in no
    // repository, pacman stops while preparing the transaction, before anything is installed.
    const result = await runPacman(configFile, installArgs(targets), {
        group: `Install ${targets.join(', ')} and the dependencies`,
        allowFailure: true,
    });
    if (result.code !== 0) {
        const problems = parseTargetProblems(result.output);
        if (problems.missing.length + problems.unsatisfied.length > 0) {
            throw new errors_UserError(describeTargetProblems(problems, repos.map(describeRepo)));
        }
        const refused = describeSignatureProblems(result.output);
        if (refused)
            throw new errors_UserError(`pacman refused a signature, nothing was installed: ${refused}.`);
        throw new errors_UserError(`pacman failed (exit ${result.code}) installing ${targets.join(', ')}:\n${tailOf(result.output, 20)}`);
    }
    return parseScriptletFailures(result.stdout);
}
async function writeManifest(inputs, packageFiles, installed, repos, rootDir, { created, files }) {
    const namedApp = inputs.app?.split('/').pop();
    const namedVersion = installed.find((entry) => entry.name === namedApp)?.version;
    const recordInRepos = namedApp !== undefined && namedVersion !== undefined
        ? await findAppRecord(namedApp, namedVersion, repos)
        : undefined;
    const manifest = makeManifest(inputs.arch, appOf(inputs.app, packageFiles, installed, recordInRepos), installed, created, files);
    const manifestFile = external_node_path_namespaceObject.join(rootDir, MANIFEST_PATH_IN_ROOT);
    await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(manifestFile), { recursive: true });
    await promises_namespaceObject.writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
    return manifest;
}
function reportScriptletFailures(failures, allow) {
    if (failures.length === 0)
        return;
    const message = `The install scriptlet of ${failures.join(', ')} could not run in the root ` +
        '(pacman printed "call to execv failed": the root has no shell for it).';
    if (allow) {
        warning(`${message} Continuing because allow-scriptlet-failures is true.`);
        return;
    }
    throw new errors_UserError(`${message} Add the shell (e.g. bash) to packages, or set allow-scriptlet-failures: true.`);
}
async function whyNotUsable(root) {
    try {
        await promises_namespaceObject.readdir(root);
        return `${root} is not empty; give an empty or absent directory.`;
    }
    catch (error) {
        const code = error.code;
        if (code === 'ENOTDIR')
            return `${root} is a file; give an empty or absent directory.`;
        return `${root} cannot be read (${code ?? 'error'}); give an empty or absent directory this user can write.`;
    }
}
/** The output root, checked to be usable, and the tarball checked to be outside it. */
async function checkDestination(inputs) {
    const root = inputs.root ?? defaultRoot(inputs.arch);
    if (!(await isAbsentOrEmptyDir(root))) {
        throw new errors_InputError('root', await whyNotUsable(root));
    }
    if (inputs.tarball !== undefined) {
        if (external_node_path_namespaceObject.resolve(inputs.tarball).startsWith(`${root}/`)) {
            throw new errors_InputError('tarball', 'must not be inside the root.');
        }
        await checkOutputPath('tarball', inputs.tarball, 'file');
    }
    return root;
}
async function run() {
    const inputs = parseInputs(rawInputsFromEnv());
    checkPrivileges();
    const root = await checkDestination(inputs);
    const packageFiles = await group('Read the package files', () => readPackageFiles(inputs));
    for (const output of [root, inputs.tarball]) {
        if (output === undefined)
            continue;
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(output), { recursive: true });
        await removeLeftoverTemporaries(output, info);
    }
    const building = temporarySibling(root);
    const tarballTemporary = inputs.tarball === undefined ? undefined : temporarySibling(inputs.tarball);
    try {
        const made = await withPrivateTempDir('make-chroot', async (work) => {
            const result = await makeRoot(inputs, packageFiles, building, work);
            reportScriptletFailures(result.scriptletFailures, inputs.allowScriptletFailures);
            return result;
        });
        const sizeBytes = directorySize(building);
        // The tarball is written before the root is published, so that a run stopped while writing it
        // leaves only temporaries (removed by the next run) and no root a rerun would find "not empty".
        const tarballSha = tarballTemporary === undefined ? undefined : await writeTarball(building, tarballTemporary);
        await publishRoot(building, root);
        if (inputs.tarball !== undefined && tarballTemporary !== undefined) {
            await promises_namespaceObject.rename(tarballTemporary, inputs.tarball);
            info(`${inputs.tarball}: sha256 ${tarballSha}`);
        }
        setOutputs({
            root,
            tarball: inputs.tarball ?? '',
            'tarball-sha256': tarballSha ?? '',
            manifest: external_node_path_namespaceObject.join(root, MANIFEST_PATH_IN_ROOT),
            'sbom-spdx': external_node_path_namespaceObject.join(root, SBOM_SPDX_PATH_IN_ROOT),
            'sbom-cyclonedx': external_node_path_namespaceObject.join(root, SBOM_CYCLONEDX_PATH_IN_ROOT),
            packages: made.installed.map((entry) => `${entry.name} ${entry.version}`).join('\n'),
            'size-bytes': sizeBytes,
            'package-count': made.installed.length,
        });
        await writeRootSummary(inputs, root, made, sizeBytes, tarballSha);
    }
    finally {
        // Whatever happened, no temporary stays where a later step would take it for output.
        await promises_namespaceObject.rm(building, { recursive: true, force: true });
        if (tarballTemporary !== undefined)
            await promises_namespaceObject.rm(tarballTemporary, { force: true });
    }
}
/**
 * Moves the finished root into place. The root was checked empty or absent at the start; if it is
 * not now, another run made it meanwhile: that run's root is kept, this one's discarded.
 */
async function publishRoot(building, root) {
    try {
        await promises_namespaceObject.rmdir(root).catch((error) => {
            if (error.code !== 'ENOENT')
                throw error;
        });
        await promises_namespaceObject.rename(building, root);
    }
    catch (error) {
        const code = error.code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST')
            throw error;
        throw new errors_UserError(`${root} was made by another run while this one was building it: this run's root is discarded and ${root} is left as the other run made it.`);
    }
}
/** Writes the root as a deterministic tarball at `file`; gives its sha256. */
function writeTarball(root, file) {
    return group('Write the tarball', async () => {
        const owners = tarOwners();
        if (owners === 'root')
            notice('Under fakeroot: every tarball entry is owned by 0:0.');
        await writeTar(root, file, { owners, mtimeClamp: sourceDateEpoch() });
        return sha256File(file);
    });
}
async function writeRootSummary(inputs, root, made, sizeBytes, tarballSha) {
    const totalInstalled = made.installed.reduce((sum, entry) => sum + entry.installedSize, 0);
    const largest = [...made.installed]
        .sort((a, b) => b.installedSize - a.installedSize || (a.name < b.name ? -1 : 1))
        .slice(0, 10);
    const facts = [
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

;// CONCATENATED MODULE: ./actions/make-chroot/src/index.ts


void runAction(run);

