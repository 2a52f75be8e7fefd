import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../scripts/lib/project-root.js';

// The layout rules of docs/dev/architecture.md, read from the sources' own imports.

const ENTRIES = ['build-package', 'make-chroot', 'import-image', 'make-iso', 'deploy-fleet', 'cli'];
const CORE = path.join(projectRoot, 'actions', 'core', 'src');

function trackedFiles(...under: string[]): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--', ...under], { cwd: projectRoot });
  return out
    .toString('utf8')
    .split('\0')
    .filter((file) => file !== '' && fs.existsSync(path.join(projectRoot, file)));
}

/** The files a source file imports or re-exports from, resolved; `.js` specifiers name `.ts`. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/g),
    ...text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g),
  ];
  return specifiers
    .map((match) => match[1] ?? '')
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
}

function sourcesUnder(directory: string): string[] {
  return trackedFiles(directory)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(projectRoot, file));
}

/** Every core module an entry uses: imported by one of its files, or by a core module it uses. */
function coreModulesUsedBy(entry: string): Set<string> {
  const used = new Set<string>();
  const pending = sourcesUnder(path.join('actions', entry, 'src')).flatMap(importsOf);
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (path.dirname(file) !== CORE || used.has(file)) continue;
    used.add(file);
    pending.push(...importsOf(file));
  }
  return used;
}

test('every core module is used by at least two of the six entries (directly or through core)', () => {
  const users = new Map<string, string[]>();
  for (const entry of ENTRIES) {
    for (const module of coreModulesUsedBy(entry)) {
      users.set(module, [...(users.get(module) ?? []), entry]);
    }
  }
  const offenders = sourcesUnder(path.join('actions', 'core', 'src'))
    .map((module) => ({ module: path.basename(module), by: users.get(module) ?? [] }))
    .filter(({ by }) => by.length < 2)
    .map(({ module, by }) => `${module} (used by ${by.join(', ') || 'none'})`);
  expect(offenders).toEqual([]);
});

test('scripts and the CLI use another action only through its src/api.ts', () => {
  const offenders: string[] = [];
  for (const file of [...sourcesUnder('scripts'), ...sourcesUnder(path.join('actions', 'cli'))]) {
    for (const imported of importsOf(file)) {
      const relative = path.relative(path.join(projectRoot, 'actions'), imported).split(path.sep);
      const [action, folder, module] = relative;
      if (relative[0] === '..' || action === 'core' || action === 'cli' || folder !== 'src')
        continue;
      if (module !== 'api.ts')
        offenders.push(`${path.relative(projectRoot, file)} → ${relative.join('/')}`);
    }
  }
  expect(offenders).toEqual([]);
});

test('nothing in the project refers to documents outside it', () => {
  // Built from pieces so that this file does not name them itself.
  const outside = ['DESIGN', 'FLEET', 'TOOLS', 'STYLE', 'SHARED-DECISIONS']
    .map((name) => `${name}.md`)
    .concat(['..', 'shared'].join('/'));
  const files = trackedFiles(
    'actions',
    'scripts',
    'test',
    'docs',
    'workflows-examples',
    '.ci',
    'README.md',
    'CHANGELOG.md',
    'jest.config.js',
  );
  const offenders = files.flatMap((file) => {
    const text = fs.readFileSync(path.join(projectRoot, file), 'utf8');
    return outside.filter((name) => text.includes(name)).map((name) => `${file}: ${name}`);
  });
  expect(files.length).toBeGreaterThan(100);
  expect(offenders).toEqual([]);
});
