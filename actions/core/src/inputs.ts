import * as core from '@actions/core';
import { InputError } from './errors.js';

/**
 * Strict input parsers. Each reads one input of action.yml, trims it, and throws an InputError
 * naming the input when the value cannot be right. Optional inputs come back as `undefined`.
 */

function raw(name: string): string {
  return core.getInput(name, { required: false, trimWhitespace: true });
}

export function requiredInput(name: string): string {
  const value = raw(name);
  if (value === '') throw new InputError(name, 'is required and was not given.');
  return value;
}

export function optionalInput(name: string): string | undefined {
  const value = raw(name);
  return value === '' ? undefined : value;
}

/** A string with a default when absent. */
export function stringInput(name: string, defaultValue: string): string {
  return optionalInput(name) ?? defaultValue;
}

const TRUE = ['true', 'True', 'TRUE', 'yes', 'on', '1'];
const FALSE = ['false', 'False', 'FALSE', 'no', 'off', '0'];

export function booleanInput(name: string, defaultValue: boolean): boolean {
  const value = optionalInput(name);
  if (value === undefined) return defaultValue;
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new InputError(name, `"${value}" is not a boolean; use true or false.`);
}

export function enumInput<T extends string>(
  name: string,
  allowed: readonly T[],
  defaultValue: T,
): T {
  const value = optionalInput(name);
  if (value === undefined) return defaultValue;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(name, `"${value}" is not one of ${allowed.join(', ')}.`);
}

export interface IntegerBounds {
  min: number;
  max: number;
}

export function integerInput(name: string, bounds: IntegerBounds, defaultValue: number): number;
export function integerInput(
  name: string,
  bounds: IntegerBounds,
  defaultValue?: undefined,
): number | undefined;
export function integerInput(
  name: string,
  bounds: IntegerBounds,
  defaultValue?: number,
): number | undefined {
  const value = optionalInput(name);
  if (value === undefined) return defaultValue;
  return parseBoundedInteger(name, value, bounds);
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
export function listInput(name: string): string[] {
  return parseList(raw(name));
}

export function parseList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** `key=value` lines, in order; a line without `=` or with an empty key is an error. */
export function keyValueInput(
  name: string,
  keyPattern: RegExp = /^[^\s=]+$/,
): Array<[string, string]> {
  return listInput(name).map((line) => {
    const equals = line.indexOf('=');
    const key = equals > 0 ? line.slice(0, equals).trim() : '';
    if (equals <= 0 || !keyPattern.test(key)) {
      throw new InputError(name, `line "${line}" is not of the form key=value.`);
    }
    return [key, line.slice(equals + 1).trim()];
  });
}

/** Reads a secret input and masks it (the whole value and each of its lines) in the log. */
export function secretInput(name: string): string | undefined {
  const value = core.getInput(name, { required: false, trimWhitespace: false });
  if (value.trim() === '') return undefined;
  maskSecret(value);
  return value;
}

export function maskSecret(value: string): void {
  core.setSecret(value);
  for (const line of value.split(/\r?\n/)) {
    if (line.trim().length >= 4) core.setSecret(line.trim());
  }
}
