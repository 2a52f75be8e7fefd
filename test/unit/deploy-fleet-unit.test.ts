import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../helpers/bundle.js';
import {
  DEFAULT_UNIT_TEMPLATE,
  imageInUnit,
  isGlobal,
  machineMatches,
  metadataOptions,
  parseUnitFile,
  placeholdersIn,
  renderTemplate,
  requiredMetadata,
  serializeUnit,
  unitHash,
  unitNameProblem,
  xFleetValues,
} from '../../actions/deploy-fleet/src/unit.js';

const values = { image: 'r:5000/team/app:1.2', version: '1.2', unit: 'app.service' };

test('the sample unit in workflows-examples is the built-in default template', () => {
  const sample = fs.readFileSync(
    path.join(projectRoot, 'workflows-examples/samples/app.service'),
    'utf8',
  );
  expect(sample).toBe(DEFAULT_UNIT_TEMPLATE);
  const options = parseUnitFile(renderTemplate(sample, values, 'sample'), 'sample');
  expect(isGlobal(options)).toBe(true);
  expect(options).toContainEqual({
    section: 'Service',
    name: 'ExecStart',
    value: '/usr/bin/docker run --rm --name app.service r:5000/team/app:1.2',
  });
  expect(options).toContainEqual({
    section: 'Service',
    name: 'ExecStartPre',
    value: '/usr/bin/docker pull r:5000/team/app:1.2',
  });
});

test("fleet's own unit hash vector: SHA-1 of the serialized options", () => {
  // fleet v1.0.0 unit/unit_test.go TestUnitHash: "[Service]\nExecStart=/bin/sleep 100\n".
  const options = parseUnitFile('[Service]\nExecStart=/bin/sleep 100\n', 'u');
  expect(unitHash(options)).toBe('1c6fb6f3684bafb0c173d8b8b957ceff031180c1');
});

test.each([
  [
    'trims names and values, skips comments',
    '# c\n; c\n[Unit]\n  Description =  x y  \n\n[Service]\nExecStart=/bin/a\n',
    [
      ['Unit', 'Description', 'x y'],
      ['Service', 'ExecStart', '/bin/a'],
    ],
  ],
  ['an empty value', '[Service]\nEnvironment=\n', [['Service', 'Environment', '']]],
  [
    'a continued value keeps backslash and newline',
    '[Service]\nExecStart=/bin/a \\\n  --b\nUser=x\n',
    [
      ['Service', 'ExecStart', '/bin/a \\\n  --b'],
      ['Service', 'User', 'x'],
    ],
  ],
  [
    'a continued comment is skipped',
    '[Service]\n# c \\\nstill comment\nUser=x\n',
    [['Service', 'User', 'x']],
  ],
  ['CRLF line ends', '[Service]\r\nUser=x\r\n', [['Service', 'User', 'x']]],
  [
    'a section seen twice stays in order',
    '[A]\na=1\n[B]\nb=1\n[A]\nc=1\n',
    [
      ['A', 'a', '1'],
      ['B', 'b', '1'],
      ['A', 'c', '1'],
    ],
  ],
])('parseUnitFile: %s', (_name, text, expected) => {
  expect(parseUnitFile(text, 'u').map((o) => [o.section, o.name, o.value])).toEqual(expected);
});

test.each([
  ['[Service]x\nA=b\n', /line 1: text after the section name \[Service\]/],
  ['[Service\nA=b\n', /line 1: no "\]" ends the section/],
  ['A=b\n', /line 1: an option before any \[Section\]/],
  ['[Service]\nnot an option\n', /line 2: "not an option" is not Name=Value/],
  ['# only a comment\n', /the unit has no options/],
])('parseUnitFile refuses %j', (text, message) => {
  expect(() => parseUnitFile(text, 'u')).toThrow(message);
});

test('serializeUnit groups sections in first-seen order, one blank line between them', () => {
  const options = parseUnitFile('[A]\na=1\n[B]\nb=1\n[A]\nc=1\n', 'u');
  expect(serializeUnit(options)).toBe('[A]\na=1\nc=1\n\n[B]\nb=1\n');
  // A round trip through the serialization is stable (fleet stores and re-reads it).
  expect(serializeUnit(parseUnitFile(serializeUnit(options), 'u'))).toBe(serializeUnit(options));
});

test.each([
  ['{{image}} {{ version }} {{unit}}', 'r:5000/team/app:1.2 1.2 app.service'],
  ['{{image}}{{image}}', 'r:5000/team/app:1.2r:5000/team/app:1.2'],
])('renderTemplate %j', (template, expected) => {
  expect(renderTemplate(template, values, 't')).toBe(expected);
});

test.each([
  ['no image', '{{version}}', /t: the unit never uses \{\{image\}\}/],
  [
    'unknown',
    '{{image}} {{tag}} {{Image}}',
    /t: unknown placeholder \{\{tag\}\}, \{\{Image\}\}; the placeholders are/,
  ],
  [
    'unterminated',
    '{{image}}\nDescription={{version',
    /^t line 2: "\{\{" is not part of a placeholder/,
  ],
  ['nested', 'X={{ {{image}} }}', /^t line 1: "\{\{" is not part of a placeholder/],
  ['a closing pair alone', '{{image}} }}', /^t line 1: "\}\}" is not part of a placeholder/],
])('renderTemplate refuses %s', (_name, template, message) => {
  expect(() => renderTemplate(template, values, 't')).toThrow(message);
});

test('placeholdersIn lists each once', () => {
  expect(placeholdersIn('{{a}} {{ b }} {{a}}')).toEqual(['a', 'b']);
});

test('Global and MachineMetadata as fleet reads them', () => {
  const options = parseUnitFile(
    '[X-Fleet]\nGlobal=Yes\nMachineMetadata="role=worker" "role=edge"\nMachineMetadata=region=eu\n',
    'u',
  );
  expect(isGlobal(options)).toBe(true);
  expect(isGlobal(parseUnitFile('[X-Fleet]\nGlobal=true\nGlobal=false\n', 'u'))).toBe(false);
  expect(xFleetValues(options, 'MachineMetadata')).toEqual([
    'role=worker',
    'role=edge',
    'region=eu',
  ]);
  const required = requiredMetadata(options);
  expect(machineMatches({ role: 'edge', region: 'eu' }, required)).toBe(true);
  expect(machineMatches({ role: 'worker', region: 'us' }, required)).toBe(false);
  expect(machineMatches({ role: 'worker' }, required)).toBe(false);
  expect(machineMatches(undefined, new Map())).toBe(true);
  expect(metadataOptions([['a', 'b']])).toEqual([
    { section: 'X-Fleet', name: 'MachineMetadata', value: 'a=b' },
  ]);
});

test.each([
  ['app.service', undefined],
  ['app@1.service', undefined],
  ['app', /does not end in a unit type/],
  ['app.conf', /does not end in a unit type/],
  ['app@.service', /template unit name/],
  ['a b.service', /may hold only/],
])('unitNameProblem(%j)', (name, problem) => {
  const found = unitNameProblem(name);
  if (problem === undefined) expect(found).toBeUndefined();
  else expect(found).toMatch(problem);
});

test.each([
  ['ExecStart=/usr/bin/docker run --rm r:5000/team/app:1.1', 'r:5000/team/app:1.1'],
  [
    'ExecStart=/usr/bin/docker run r:5000/team/app@sha256:' + 'a'.repeat(64),
    'r:5000/team/app@sha256:' + 'a'.repeat(64),
  ],
  ['Environment="IMAGE=r:5000/team/app:2"', 'r:5000/team/app:2'],
  ['ExecStart=/usr/bin/docker run r:5000/team/application:1', undefined],
  ['ExecStart=/usr/bin/docker run other:5000/team/app:1', undefined],
])('imageInUnit(%j)', (line, expected) => {
  const options = parseUnitFile(`[Service]\n${line}\n`, 'u');
  expect(imageInUnit(options, 'r:5000', 'team/app')).toBe(expected);
});
