import * as core from './runner.js';
import { InputError, messageOf } from './errors.js';
import { parseImageReference, type ImageReference } from './image-ref.js';

/**
 * Strict readers of an action's inputs. Every action has a pure `parseInputs(raw)` built on
 * `inputReader`; each reader trims, and throws an InputError naming the input when the value
 * cannot be right. Defaults live only in action.yml (the runner, and the local runner, pass them
 * in), so a reader never invents one: an input that is absent and has no default is absent.
 */

const TRUE = ['true', 'True', 'TRUE', 'yes', 'on', '1'];
const FALSE = ['false', 'False', 'FALSE', 'no', 'off', '0'];

export interface IntegerBounds {
  min: number;
  max: number;
}

export function parseBoundedInteger(name: string, value: string, bounds: IntegerBounds): number {
  const range = `an integer from ${bounds.min} to ${bounds.max}`;
  if (!/^-?\d+$/.test(value)) throw new InputError(name, `"${value}" is not ${range}.`);
  const number = Number(value);
  if (number < bounds.min || number > bounds.max) {
    throw new InputError(name, `${value} is out of range; use ${range}.`);
  }
  return number;
}

/** A multiline list: one item a line, blank lines and lines starting with `#` skipped. */
export function parseList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export function maskSecret(value: string): void {
  core.setSecret(value);
  for (const line of value.split(/\r?\n/)) {
    if (line.trim().length >= 4) core.setSecret(line.trim());
  }
}

/** The inputs of one run by their action.yml names, as given (not trimmed). */
export type RawInputs = Readonly<Record<string, string | undefined>>;

/** Every `INPUT_*` variable by input name (`INPUT_SSH-KEY` → `ssh-key`), as the runner sets them. */
export function rawInputsFromEnv(env: NodeJS.ProcessEnv = process.env): RawInputs {
  const raw: Record<string, string> = {};
  for (const [variable, value] of Object.entries(env)) {
    if (variable.startsWith('INPUT_') && value !== undefined) {
      raw[variable.slice('INPUT_'.length).toLowerCase()] = value;
    }
  }
  return raw;
}

/** Readers of one run's inputs; each throws an InputError naming the input it reads. */
export interface InputReader {
  /** Trimmed; undefined when absent or blank. */
  optional(name: string): string | undefined;
  required(name: string): string;
  boolean(name: string): boolean;
  oneOf<T extends string>(name: string, allowed: readonly T[]): T;
  integer(name: string, bounds: IntegerBounds): number;
  optionalInteger(name: string, bounds: IntegerBounds): number | undefined;
  /** One item a line; blank lines and `#` comments skipped. */
  list(name: string): string[];
  keyValues(name: string, keyPattern?: RegExp): Array<[string, string]>;
  /** Not trimmed, and masked in the log (the whole value and each line). */
  secret(name: string): string | undefined;
  /** An image reference (`[registry/]repository[:tag][@digest]`). */
  image(name: string): ImageReference;
}

export function inputReader(raw: RawInputs): InputReader {
  const optional = (name: string): string | undefined => {
    const value = (raw[name] ?? '').trim();
    return value === '' ? undefined : value;
  };
  const required = (name: string): string => {
    const value = optional(name);
    if (value === undefined) throw new InputError(name, 'is required and was not given.');
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
      if (value.trim() === '') return undefined;
      maskSecret(value);
      return value;
    },
    image: (name) => parseImageInput(name, required(name)),
  };
}

export function parseBoolean(name: string, value: string): boolean {
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new InputError(name, `"${value}" is not a boolean; use true or false.`);
}

export function parseOneOf<T extends string>(
  name: string,
  value: string,
  allowed: readonly T[],
): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(name, `"${value}" is not one of ${allowed.join(', ')}.`);
}

export function parseKeyValues(
  name: string,
  lines: string[],
  keyPattern: RegExp = /^[^\s=]+$/,
): Array<[string, string]> {
  return lines.map((line) => {
    const equals = line.indexOf('=');
    const key = equals > 0 ? line.slice(0, equals).trim() : '';
    if (equals <= 0 || !keyPattern.test(key)) {
      throw new InputError(name, `line "${line}" is not of the form key=value.`);
    }
    return [key, line.slice(equals + 1).trim()];
  });
}

/** An image reference input; the error names the input and the part that is wrong. */
export function parseImageInput(name: string, text: string): ImageReference {
  try {
    return parseImageReference(text, 'reference');
  } catch (error) {
    throw new InputError(name, messageOf(error));
  }
}
