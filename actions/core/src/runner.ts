import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * The half of the runner protocol the actions speak (docs/dev/architecture.md, "Inside an
 * action"): workflow commands on stdout (`::name key=value,...::data`) and the GITHUB_OUTPUT,
 * GITHUB_STATE and GITHUB_STEP_SUMMARY files. It has the names and behaviour of the part of
 * @actions/core the actions used, so a file switches by its import line alone, but loads only
 * Node's fs, os and crypto: @actions/core also loads @actions/http-client (for OIDC tokens, which
 * no action here asks for), and that doubled the CPU time of every start.
 */

/** Where an annotation points; `file` is relative to the workspace. */
export interface AnnotationProperties {
  title?: string;
  file?: string;
  startLine?: number;
  endLine?: number;
  startColumn?: number;
  endColumn?: number;
}

/** A command's data: the runner reads `%25`, `%0D` and `%0A` back as `%`, CR and LF. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A property value, which also ends at `:` (the data follows `::`) and at `,` (the next one). */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** How a value that is not a string is written: as JSON (undefined and null as nothing). */
function commandValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** One workflow command line (without its line break); properties without a value are left out. */
export function commandLine(
  name: string,
  properties: Record<string, string | number | undefined>,
  data: string,
): string {
  const pairs = Object.entries(properties)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${escapeProperty(String(value))}`);
  return `::${name}${pairs.length > 0 ? ` ${pairs.join(',')}` : ''}::${escapeData(data)}`;
}

function issue(
  name: string,
  properties: Record<string, string | number | undefined>,
  data: string,
) {
  process.stdout.write(`${commandLine(name, properties, data)}${os.EOL}`);
}

/**
 * One `name<<DELIMITER` entry of GITHUB_OUTPUT or GITHUB_STATE. The delimiter is random, so a
 * value cannot end its entry early and set other names; one that contains it is refused.
 */
export function fileCommandEntry(
  name: string,
  value: string,
  delimiter = `ghadelimiter_${randomUUID()}`,
): string {
  if (name.includes(delimiter) || value.includes(delimiter)) {
    throw new Error(`The value of "${name}" contains its delimiter "${delimiter}"; not written.`);
  }
  return `${name}<<${delimiter}${os.EOL}${value}${os.EOL}${delimiter}${os.EOL}`;
}

/**
 * Sets `name` through the file the runner names in `GITHUB_<file>`; false when there is none
 * (a run outside a runner), and then the caller says it on stdout instead.
 */
function writeFileCommand(file: 'OUTPUT' | 'STATE', name: string, value: string): boolean {
  const filePath = process.env[`GITHUB_${file}`];
  if (!filePath) return false;
  if (!fs.existsSync(filePath))
    throw new Error(`GITHUB_${file} names ${filePath}, which is missing`);
  fs.appendFileSync(filePath, fileCommandEntry(name, value), 'utf8');
  return true;
}

export function info(message: string): void {
  process.stdout.write(`${message}${os.EOL}`);
}

/** Shown only when the run has step debug logging on. */
export function debug(message: string): void {
  issue('debug', {}, message);
}

function annotate(
  level: 'notice' | 'warning' | 'error',
  message: string | Error,
  properties: AnnotationProperties,
): void {
  issue(
    level,
    {
      title: properties.title,
      file: properties.file,
      line: properties.startLine,
      endLine: properties.endLine,
      col: properties.startColumn,
      endColumn: properties.endColumn,
    },
    message instanceof Error ? message.toString() : message,
  );
}

export function notice(message: string | Error, properties: AnnotationProperties = {}): void {
  annotate('notice', message, properties);
}

export function warning(message: string | Error, properties: AnnotationProperties = {}): void {
  annotate('warning', message, properties);
}

export function error(message: string | Error, properties: AnnotationProperties = {}): void {
  annotate('error', message, properties);
}

/** Logs `message` as an error annotation and makes the step fail when the process ends. */
export function setFailed(message: string | Error): void {
  process.exitCode = 1;
  error(message);
}

export function startGroup(name: string): void {
  issue('group', {}, name);
}

export function endGroup(): void {
  issue('endgroup', {}, '');
}

/** Runs `fn` inside a collapsible group of the log. */
export async function group<T>(name: string, fn: () => Promise<T>): Promise<T> {
  startGroup(name);
  try {
    return await fn();
  } finally {
    endGroup();
  }
}

/** From here on, the runner shows `***` for `secret` wherever it appears in the log. */
export function setSecret(secret: string): void {
  issue('add-mask', {}, secret);
}

export function setOutput(name: string, value: unknown): void {
  if (writeFileCommand('OUTPUT', name, commandValue(value))) return;
  // The command must start a line of its own.
  process.stdout.write(os.EOL);
  issue('set-output', { name }, commandValue(value));
}

/** Saves `value` for the post step of this action, which reads it with getState. */
export function saveState(name: string, value: unknown): void {
  if (writeFileCommand('STATE', name, commandValue(value))) return;
  issue('save-state', { name }, commandValue(value));
}

/** What the main step saved under `name` (STATE_<name>), or '' in the main step itself. */
export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? '';
}

/** A table cell: text, or a cell with options (`header` for a `<th>`). */
export type SummaryTableCell = string | { data: string; header?: boolean };

/**
 * The job summary (GITHUB_STEP_SUMMARY): HTML added to a buffer, appended to the file by
 * `write`. The texts are HTML as given: the caller escapes what it takes from elsewhere.
 */
export class Summary {
  private buffer = '';

  addHeading(text: string, level = 1): this {
    const tag = Number.isInteger(level) && level >= 1 && level <= 6 ? `h${level}` : 'h1';
    return this.addLine(`<${tag}>${text}</${tag}>`);
  }

  addTable(rows: SummaryTableCell[][]): this {
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
  async write(): Promise<this> {
    const filePath = process.env.GITHUB_STEP_SUMMARY;
    if (!filePath) throw new Error('GITHUB_STEP_SUMMARY is not set: this run has no job summary');
    await fs.promises.appendFile(filePath, this.buffer, 'utf8');
    this.buffer = '';
    return this;
  }

  private addLine(html: string): this {
    this.buffer += `${html}${os.EOL}`;
    return this;
  }
}

export const summary = new Summary();
