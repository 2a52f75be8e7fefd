import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { projectRoot } from '../helpers/bundle.js';

// Keeps the manual true: every error message quoted in a troubleshooting heading is still printed
// by an action (or an example workflow), and every relative link in the manual and the
// workflows-examples README reaches a file (and a heading, for #anchors) that exists.

function filesUnder(dir: string, test: (file: string) => boolean): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(file, test);
    return test(file) ? [file] : [];
  });
}

/** Where the messages come from: the actions' sources and the example workflows. */
function messageSources(): Map<string, string> {
  const files = [
    ...filesUnder(path.join(projectRoot, 'actions'), (file) => /\/src\/.*\.ts$/.test(file)),
    ...filesUnder(path.join(projectRoot, 'workflows-examples'), (file) => file.endsWith('.yml')),
  ];
  return new Map(files.map((file) => [file, fs.readFileSync(file, 'utf8')]));
}

/** The backticked messages of `### ` headings; `…` stands for what varies. */
export function quotedMessages(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('### '))
    .flatMap((line) => [...line.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string));
}

/** True when one source file holds every fixed piece of the message, in order. */
export function printedBy(message: string, source: string): boolean {
  let from = 0;
  for (const piece of message.split('…').map((part) => part.trim())) {
    if (piece === '') continue;
    const at = source.indexOf(piece, from);
    if (at < 0) return false;
    from = at + piece.length;
  }
  return true;
}

/** GitHub's anchor for a heading. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) => slug(line.replace(/^#+ /, ''))),
  );
}

const troubleshooting = fs.readFileSync(
  path.join(projectRoot, 'docs', 'troubleshooting.md'),
  'utf8',
);

describe('docs/troubleshooting.md', () => {
  const messages = quotedMessages(troubleshooting);
  const sources = messageSources();

  test('quotes many messages', () => {
    expect(messages.length).toBeGreaterThan(25);
  });

  test.each(messages.map((message) => [message]))('%s is printed by the code', (message) => {
    const found = [...sources].filter(([, text]) => printedBy(message, text));
    expect(found.map(([file]) => path.relative(projectRoot, file))).not.toEqual([]);
  });

  test('the check can fail', () => {
    expect(printedBy('no such message … anywhere', 'a message somewhere')).toBe(false);
    expect(printedBy('Input … is … wrong', 'Input "x" is very wrong')).toBe(true);
    expect(printedBy('wrong … Input', 'Input "x" is very wrong')).toBe(false);
  });
});

describe('links in the manual and the workflows-examples README', () => {
  const documents = [
    ...filesUnder(path.join(projectRoot, 'docs'), (file) => file.endsWith('.md')),
    path.join(projectRoot, 'workflows-examples', 'README.md'),
  ];

  test('the manual has its chapters', () => {
    const names = documents.map((file) => path.relative(projectRoot, file)).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'docs/README.md',
        'docs/lock-down.md',
        'docs/production-digitalocean.md',
        'docs/rolling-back.md',
        'docs/self-hosted-runner.md',
        'docs/staging-vmware.md',
        'docs/troubleshooting.md',
        'docs/update-window.md',
      ]),
    );
  });

  test.each(documents.map((file) => [path.relative(projectRoot, file)]))(
    '%s: every relative link resolves',
    (relative) => {
      const file = path.join(projectRoot, relative);
      const markdown = fs.readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue; // https:, mailto:
        const [where, anchor] = (target as string).split('#') as [string, string | undefined];
        const resolved = where === '' ? file : path.resolve(path.dirname(file), where);
        if (!fs.existsSync(resolved)) {
          broken.push(`${target} (no ${path.relative(projectRoot, resolved)})`);
        } else if (anchor && resolved.endsWith('.md')) {
          if (!anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
            broken.push(`${target} (no heading #${anchor})`);
          }
        }
      }
      expect(broken).toEqual([]);
    },
  );

  test('slugs as GitHub makes them', () => {
    expect(slug('5. First boot')).toBe('5-first-boot');
    expect(slug('Why self-hosted, and why x86_64')).toBe('why-self-hosted-and-why-x86_64');
    expect(slug('OS updates and reboots')).toBe('os-updates-and-reboots');
  });
});
