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
