import { InputError, UserError, messageOf } from './errors.js';

/** A network endpoint as written in an input: `host`, `host:port`, `[v6]` or `[v6]:port`. */
export interface HostPort {
  /** A host name, an IPv4 address, or an IPv6 address without its brackets. */
  host: string;
  port: number;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const HOST_PORT = new RegExp(`^(?:\\[([0-9A-Fa-f:.]+)\\]|(${LABEL}(?:\\.${LABEL})*))(?::(\\d+))?$`);

/** The one host[:port] parser; the error says what is wrong, the caller names the input. */
export function parseHostPort(text: string, defaultPort: number): HostPort {
  const value = text.trim();
  const match = HOST_PORT.exec(value);
  if (!match) {
    throw new UserError(
      `"${value}" is not host[:port] (a host name or IPv4 address, or [IPv6], optionally :port).`,
    );
  }
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`port "${match[3]}" is out of range; use 1 to 65535.`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** True when `text` has an explicit `:port`. */
export function hasPort(text: string): boolean {
  return /(?:^[^:[\]]+|\]):\d+$/.test(text.trim());
}

/** An input holding host[:port]; the error names the input. */
export function hostPortInput(name: string, text: string, defaultPort: number): HostPort {
  try {
    return parseHostPort(text, defaultPort);
  } catch (error) {
    throw new InputError(name, messageOf(error));
  }
}
