import { InputError } from '../../core/src/errors.js';

/**
 * Splits an input into words as a POSIX shell splits a command line, without running a shell:
 * blanks and line breaks separate words; '…' keeps everything literally; "…" keeps everything
 * but `\"`, `\\`, `\$`, `` \` `` and a backslash-newline; an unquoted backslash keeps the next
 * character (a backslash-newline joins lines); an unquoted `#` starting a word comments out
 * the rest of its line. Nothing is expanded: `$HOME` and `*` stay as written.
 */
export function splitWords(name: string, text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const append = (piece: string) => {
    word = (word ?? '') + piece;
  };
  while (i < text.length) {
    const char = text[i] as string;
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
      if (word !== undefined) words.push(word);
      word = undefined;
      i += 1;
    } else if (char === '#' && word === undefined) {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
    } else if (char === '\\') {
      const next = text[i + 1];
      if (next === undefined) append('\\');
      else if (next !== '\n') append(next);
      i += 2;
    } else if (char === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw unclosed(name, text, i);
      append(text.slice(i + 1, end));
      i = end + 1;
    } else if (char === '"') {
      const quoted = readDoubleQuoted(text, i + 1);
      if (quoted === undefined) throw unclosed(name, text, i);
      append(quoted.value);
      i = quoted.end + 1;
    } else {
      append(char);
      i += 1;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The text of a "…" opened before `start`, and the index of its closing quote. */
function readDoubleQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start; i < text.length; i += 1) {
    const char = text[i] as string;
    if (char === '"') return { value, end: i };
    const next = text[i + 1];
    if (char === '\\' && next !== undefined && '"\\$`\n'.includes(next)) {
      if (next !== '\n') value += next;
      i += 1;
    } else {
      value += char;
    }
  }
  return undefined;
}

function unclosed(name: string, text: string, at: number): InputError {
  const lineStart = text.lastIndexOf('\n', at) + 1;
  const lineEnd = text.indexOf('\n', at);
  const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).trim();
  const number = text.slice(0, at).split('\n').length;
  const quote = text[at] as string;
  return new InputError(
    name,
    `the ${quote} opened on line ${number} (${line}) is never closed; close it, or write \\${quote} for the character itself.`,
  );
}
