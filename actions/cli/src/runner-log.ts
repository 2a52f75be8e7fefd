import { StringDecoder } from 'node:string_decoder';

/**
 * What the runner makes of a step's log, for a terminal: it interprets the workflow commands
 * (`::add-mask::`, `::group::`, `::error::`, ...) instead of showing them, and replaces every
 * masked value by `***` in each later line, on stdout and stderr alike.
 */
export type Stream = 'stdout' | 'stderr';

export interface RunnerLogOptions {
  /** Show `::debug::` lines. */
  verbose?: boolean;
  write: (text: string, stream: Stream) => void;
}

const ANNOTATIONS = new Set(['error', 'warning', 'notice']);

/** A command's data or message, as the actions escape it (`%25`, `%0D`, `%0A`). */
export function decodeData(text: string): string {
  return text.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
}

/** A command's property value, which also escapes `:` and `,`. */
function decodeProperty(text: string): string {
  return decodeData(text.replace(/%3A/gi, ':').replace(/%2C/gi, ','));
}

/** `::name key=value,...::data` taken apart, or undefined for an ordinary line. */
export function parseCommand(
  line: string,
): { name: string; properties: Record<string, string>; data: string } | undefined {
  const match = /^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$/s.exec(line);
  if (!match) return undefined;
  const [, name, rawProperties = '', data = ''] = match as unknown as string[];
  const properties: Record<string, string> = {};
  for (const pair of rawProperties.split(',')) {
    const equals = pair.indexOf('=');
    if (equals > 0)
      properties[pair.slice(0, equals).trim()] = decodeProperty(pair.slice(equals + 1));
  }
  return { name: name as string, properties, data: decodeData(data) };
}

export class RunnerLog {
  private readonly secrets = new Set<string>();
  private readonly decoders = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private readonly pending = { stdout: '', stderr: '' };
  /** The token of `::stop-commands::`: commands are shown as written until `::TOKEN::`. */
  private stoppedUntil: string | undefined;

  constructor(private readonly options: RunnerLogOptions) {}

  /** Registers a secret as `::add-mask::` does: the whole value and each of its lines. */
  addMask(value: string): void {
    for (const secret of [value, ...value.split(/\r?\n/)].map((part) => part.trim())) {
      if (secret !== '') this.secrets.add(secret);
    }
  }

  /** `text` with every secret replaced by `***`, longest first. */
  mask(text: string): string {
    const secrets = [...this.secrets].sort((a, b) => b.length - a.length);
    return secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
  }

  push(chunk: Buffer, stream: Stream): void {
    const text = this.pending[stream] + this.decoders[stream].write(chunk);
    const lines = text.split('\n');
    this.pending[stream] = lines.pop() ?? '';
    for (const line of lines) this.line(line, stream);
  }

  /** The end of a step: its unterminated last lines. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.pending[stream] + this.decoders[stream].end();
      this.pending[stream] = '';
      if (rest !== '') this.line(rest, stream);
    }
  }

  private line(raw: string, stream: Stream): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const shown = this.interpret(line);
    if (shown !== undefined) this.options.write(`${this.mask(shown)}\n`, stream);
  }

  /** What a line shows (undefined: nothing); a command's effect happens here. */
  private interpret(line: string): string | undefined {
    if (this.stoppedUntil !== undefined) {
      if (line === `::${this.stoppedUntil}::`) this.stoppedUntil = undefined;
      return this.stoppedUntil === undefined ? undefined : line;
    }
    const command = parseCommand(line);
    if (!command) return line;
    const { name, properties, data } = command;
    if (name === 'add-mask') {
      this.addMask(data);
      return undefined;
    }
    if (name === 'stop-commands') {
      this.stoppedUntil = data;
      return undefined;
    }
    if (name === 'group') return `==> ${data}`;
    if (name === 'debug') return this.options.verbose ? `debug: ${data}` : undefined;
    if (ANNOTATIONS.has(name)) {
      const where = [properties.file, properties.line, properties.col].filter(Boolean).join(':');
      const title = properties.title ? `${properties.title}: ` : '';
      return `${name}: ${where ? `${where}: ` : ''}${title}${data}`;
    }
    // endgroup, echo, save-state, set-output and any other command: nothing to show.
    return undefined;
  }
}
