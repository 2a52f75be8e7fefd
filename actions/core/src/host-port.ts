import * as net from 'node:net';
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

/** RFC 1918, shared (100.64/10) and link-local IPv4, ULA and link-local IPv6. */
export function isPrivateAddress(host: string): boolean {
  if (net.isIPv4(host)) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254)
    );
  }
  if (net.isIPv6(host)) return /^f[cd]/i.test(host) || /^fe[89ab]/i.test(host);
  return false;
}
