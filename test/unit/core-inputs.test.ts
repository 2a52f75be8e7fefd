import { afterEach, describe, expect, test } from '@jest/globals';
import { InputError } from '../../actions/core/src/errors.js';
import {
  booleanInput,
  enumInput,
  integerInput,
  keyValueInput,
  listInput,
  optionalInput,
  requiredInput,
  inputReader,
  rawInputsFromEnv,
} from '../../actions/core/src/inputs.js';

function setInput(name: string, value: string | undefined): void {
  const key = `INPUT_${name.toUpperCase()}`;
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}

afterEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith('INPUT_')) delete process.env[key];
});

describe('input parsers', () => {
  test('required input names itself when absent', () => {
    expect(() => requiredInput('image')).toThrow('Input "image": is required and was not given.');
    setInput('image', '  reg/app  ');
    expect(requiredInput('image')).toBe('reg/app');
  });

  test('optional input is undefined when absent or blank', () => {
    expect(optionalInput('repo')).toBeUndefined();
    setInput('repo', '   ');
    expect(optionalInput('repo')).toBeUndefined();
  });

  test('boolean accepts the usual spellings and rejects others', () => {
    expect(booleanInput('push', true)).toBe(true);
    setInput('push', 'false');
    expect(booleanInput('push', true)).toBe(false);
    setInput('push', 'maybe');
    expect(() => booleanInput('push', true)).toThrow('Input "push": "maybe" is not a boolean');
  });

  test('enum lists the valid values', () => {
    setInput('arch', 'arm');
    expect(() => enumInput('arch', ['auto', 'i686'] as const, 'auto')).toThrow(
      'Input "arch": "arm" is not one of auto, i686.',
    );
    setInput('arch', 'i686');
    expect(enumInput('arch', ['auto', 'i686'] as const, 'auto')).toBe('i686');
  });

  test.each([
    ['0', 'out of range'],
    ['5000', 'out of range'],
    ['1.5', 'is not an integer'],
    ['ten', 'is not an integer'],
  ])('integer %s is refused (%s)', (value, problem) => {
    setInput('timeout', value);
    expect(() => integerInput('timeout', { min: 1, max: 3600 }, 300)).toThrow(problem);
  });

  test('integer within bounds and default', () => {
    expect(integerInput('timeout', { min: 1, max: 3600 }, 300)).toBe(300);
    setInput('timeout', '45');
    expect(integerInput('timeout', { min: 1, max: 3600 }, 300)).toBe(45);
  });

  test('list skips blanks and comments', () => {
    setInput('tags', 'a\n\n  b  \n# note\nc');
    expect(listInput('tags')).toEqual(['a', 'b', 'c']);
  });

  test('key=value lines, and a line without = is an InputError', () => {
    setInput('labels', 'a=1\nb = two=2');
    expect(keyValueInput('labels')).toEqual([
      ['a', '1'],
      ['b', 'two=2'],
    ]);
    setInput('labels', 'novalue');
    expect(() => keyValueInput('labels')).toThrow(InputError);
  });
});

describe('inputReader over raw inputs', () => {
  const read = inputReader({
    flag: 'yes',
    mode: 'fast',
    count: '7',
    lines: 'a\n# comment\n\nb\n',
    pairs: 'k=v\nx = y',
    password: ' s3cret-value \n',
    image: 'Team/App',
    blank: '   ',
  });
  test('reads each kind, trimmed, with no invented default', () => {
    expect(read.boolean('flag')).toBe(true);
    expect(read.oneOf('mode', ['fast', 'slow'])).toBe('fast');
    expect(read.integer('count', { min: 1, max: 9 })).toBe(7);
    expect(read.optionalInteger('absent', { min: 1, max: 9 })).toBeUndefined();
    expect(read.list('lines')).toEqual(['a', 'b']);
    expect(read.keyValues('pairs')).toEqual([
      ['k', 'v'],
      ['x', 'y'],
    ]);
    expect(read.secret('password')).toBe(' s3cret-value \n');
    expect(read.optional('blank')).toBeUndefined();
  });
  test('an absent input that has no default in action.yml is required', () => {
    expect(() => read.boolean('absent')).toThrow('Input "absent": is required and was not given.');
  });
  test('the image reader names the input and the part that is wrong', () => {
    expect(() => read.image('image')).toThrow(
      /^Input "image": reference "Team\/App": repository "Team\/App" is not valid/,
    );
  });
  test('rawInputsFromEnv maps INPUT_ variables back to their input names', () => {
    expect(rawInputsFromEnv({ 'INPUT_SSH-KEY': 'k', INPUT_PUSH: 'true', HOME: '/root' })).toEqual({
      'ssh-key': 'k',
      push: 'true',
    });
  });
});
