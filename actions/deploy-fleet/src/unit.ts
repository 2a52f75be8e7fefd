import { createHash } from 'node:crypto';
import { UserError } from '../../core/src/errors.js';

/**
 * fleet unit files: the template's placeholders, the parse into fleet's unit options, the
 * serialization fleet hashes (the hash agents report in /state), and the scheduling facts a
 * deployer needs (global, machine metadata).
 *
 * Facts from fleet v1.0.0 (coreos/fleet `unit/unit.go`, its vendored go-systemd `unit`
 * package, `job/job.go`, `machine/machine.go`): a unit's hash is the SHA-1 of its serialized
 * options; serializing groups options by section in the order the sections first appear
 * (`[Section]` line, `Name=Value` lines, one blank line between sections); parsing trims option
 * names and values, joins `\`-continued lines with a newline, skips `#`/`;` comment lines, and
 * fails on text after a section's `]`. X-Fleet values may hold several quoted values
 * (`"a=b" "c=d"`); `Global` is true for true/yes/1/on/t; MachineMetadata `k=v` pairs of one key
 * are alternatives, different keys must all match.
 */
export interface UnitOption {
  section: string;
  name: string;
  value: string;
}

export const PLACEHOLDERS = ['image', 'version', 'unit'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** The built-in global unit; workflows-examples/samples/app.service is the same text. */
export const DEFAULT_UNIT_TEMPLATE = `# arch-core deploy-fleet: the global unit, one container of {{image}} on every machine.
# Placeholders: {{image}} (the image reference), {{version}} (its tag or digest), {{unit}}.
[Unit]
Description={{unit}} {{version}} (arch-core)
After=docker.service
Requires=docker.service

[Service]
TimeoutStartSec=0
Restart=on-failure
RestartSec=5
ExecStartPre=-/usr/bin/docker rm -f {{unit}}
ExecStartPre=/usr/bin/docker pull {{image}}
ExecStart=/usr/bin/docker run --rm --name {{unit}} {{image}}
ExecStop=/usr/bin/docker stop {{unit}}

[X-Fleet]
Global=true
`;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The placeholders a template uses, unknown ones included. */
export function placeholdersIn(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((match) => match[1] as string))];
}

/** The first `{{` or `}}` left once the placeholders are taken out (unterminated or nested). */
function strayBrace(template: string): { line: number; brace: string } | undefined {
  const rest = template.replace(PLACEHOLDER, (whole) => ' '.repeat(whole.length));
  const match = /\{\{|\}\}/.exec(rest);
  if (!match) return undefined;
  return { line: rest.slice(0, match.index).split('\n').length, brace: match[0] };
}

/**
 * Fills the placeholders. An unknown placeholder, a `{{` or `}}` outside a whole placeholder
 * (unterminated, nested), or a template without {{image}}, is an error (`what` names the template
 * in the message).
 */
export function renderTemplate(
  template: string,
  values: Record<Placeholder, string>,
  what: string,
): string {
  const used = placeholdersIn(template);
  const unknown = used.filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new UserError(
      `${what}: unknown placeholder ${unknown.map((name) => `{{${name}}}`).join(', ')}; the placeholders are ${PLACEHOLDERS.map((name) => `{{${name}}}`).join(', ')}.`,
    );
  }
  const stray = strayBrace(template);
  if (stray !== undefined) {
    throw new UserError(
      `${what} line ${stray.line}: "${stray.brace}" is not part of a placeholder; write placeholders whole, as ${PLACEHOLDERS.map((name) => `{{${name}}}`).join(', ')}.`,
    );
  }
  if (!used.includes('image')) {
    throw new UserError(
      `${what}: the unit never uses {{image}}, so it would not run the image being deployed.`,
    );
  }
  return template.replace(PLACEHOLDER, (_whole, name: string) => values[name as Placeholder]);
}

/** Parses unit text into options the way fleet (go-systemd's unit deserializer) does. */
export function parseUnitFile(text: string, what: string): UnitOption[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const options: UnitOption[] = [];
  let section: string | undefined;
  const lastIndex = lines.length - 1;
  for (let index = 0; index <= lastIndex; index++) {
    const line = (lines[index] as string).replace(/^\s+/, '');
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      // A comment continues while its line ends with a backslash.
      let current = line;
      while (current.replace(/ $/, '').endsWith('\\') && index < lastIndex) {
        current = lines[++index] as string;
      }
      continue;
    }
    if (line.startsWith('[')) {
      const close = line.indexOf(']');
      if (close < 0) throw new UserError(`${what} line ${index + 1}: no "]" ends the section.`);
      if (line.slice(close + 1).trim() !== '') {
        throw new UserError(
          `${what} line ${index + 1}: text after the section name [${line.slice(1, close)}].`,
        );
      }
      section = line.slice(1, close);
      continue;
    }
    const equals = line.indexOf('=');
    if (equals < 0) {
      throw new UserError(`${what} line ${index + 1}: "${line}" is not Name=Value.`);
    }
    if (section === undefined) {
      throw new UserError(`${what} line ${index + 1}: an option before any [Section].`);
    }
    const name = line.slice(0, equals).trim();
    let value = '';
    let segment = line.slice(equals + 1);
    for (;;) {
      if (segment.trim() === '') break;
      value += segment;
      if (!segment.endsWith('\\')) break;
      if (index >= lastIndex) break;
      value += '\n';
      segment = lines[++index] as string;
    }
    value = value.endsWith('\n') ? `${value.trim()}\n` : value.trim();
    options.push({ section, name, value });
  }
  if (options.length === 0) throw new UserError(`${what}: the unit has no options.`);
  return options;
}

/** The unit text fleet serializes from options (sections in first-seen order). */
export function serializeUnit(options: UnitOption[]): string {
  const sections: string[] = [];
  const bySection = new Map<string, UnitOption[]>();
  for (const option of options) {
    if (!bySection.has(option.section)) {
      sections.push(option.section);
      bySection.set(option.section, []);
    }
    bySection.get(option.section)?.push(option);
  }
  return sections
    .map(
      (section) =>
        `[${section}]\n${(bySection.get(section) ?? []).map((option) => `${option.name}=${option.value}\n`).join('')}`,
    )
    .join('\n');
}

/** The hash fleet agents report for a unit: SHA-1 (hex) of its serialized options. */
export function unitHash(options: UnitOption[]): string {
  return createHash('sha1').update(serializeUnit(options)).digest('hex');
}

/** The values of an X-Fleet option, each line split as fleet splits quoted multi-values. */
export function xFleetValues(options: UnitOption[], name: string): string[] {
  return options
    .filter((option) => option.section === 'X-Fleet' && option.name === name)
    .flatMap((option) => parseMultivalue(option.value));
}

function parseMultivalue(line: string): string[] {
  if (!line.startsWith('"') || !line.endsWith('"')) return [line];
  const values: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of line) {
    if (character === '"') {
      quoted = !quoted;
      continue;
    }
    if (character === ' ' && !quoted) {
      values.push(current);
      current = '';
      continue;
    }
    current += character;
  }
  values.push(current);
  return values;
}

export function isGlobal(options: UnitOption[]): boolean {
  const values = xFleetValues(options, 'Global');
  const last = values[values.length - 1];
  return last !== undefined && ['true', 'yes', '1', 'on', 't'].includes(last.toLowerCase());
}

/** The metadata a machine must have: key → accepted values (fleet's MachineMetadata rules). */
export function requiredMetadata(options: UnitOption[]): Map<string, Set<string>> {
  const required = new Map<string, Set<string>>();
  for (const pair of [
    ...xFleetValues(options, 'X-ConditionMachineMetadata'),
    ...xFleetValues(options, 'MachineMetadata'),
  ]) {
    const parts = pair.split('=');
    if (parts.length !== 2 || !parts[0] || !parts[1]) continue;
    const values = required.get(parts[0]) ?? new Set<string>();
    values.add(parts[1]);
    required.set(parts[0], values);
  }
  return required;
}

export function machineMatches(
  metadata: Record<string, string> | undefined,
  required: Map<string, Set<string>>,
): boolean {
  for (const [key, values] of required) {
    const local = metadata?.[key];
    if (local === undefined || !values.has(local)) return false;
  }
  return true;
}

/** The MachineMetadata options for `key=value` pairs (one option a pair: all must match). */
export function metadataOptions(pairs: Array<[string, string]>): UnitOption[] {
  return pairs.map(([key, value]) => ({
    section: 'X-Fleet',
    name: 'MachineMetadata',
    value: `${key}=${value}`,
  }));
}

const UNIT_TYPES = ['service', 'socket', 'device', 'mount', 'automount', 'timer', 'path'];

/** A unit name fleet accepts for a global unit; the message says what is wrong, or undefined. */
export function unitNameProblem(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  const type = dot > 0 ? name.slice(dot + 1) : '';
  if (!UNIT_TYPES.includes(type)) {
    return `"${name}" does not end in a unit type fleet runs (.${UNIT_TYPES.join(', .')}).`;
  }
  if (!/^[A-Za-z0-9:_.@\\-]+$/.test(name) || name.length > 255) {
    return `"${name}" may hold only letters, digits and : _ . @ - \\ (at most 255).`;
  }
  if (name.slice(0, dot).endsWith('@')) {
    return `"${name}" is a template unit name; give an instance or a plain name.`;
  }
  return undefined;
}

/** The image a unit ran: the first reference to `registry/repository` in its option values. */
export function imageInUnit(
  options: UnitOption[],
  registry: string,
  repository: string,
): string | undefined {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const names =
    registry === 'docker.io'
      ? [`docker.io/${repository}`, repository]
      : [`${registry}/${repository}`];
  const pattern = new RegExp(
    `(?:^|[\\s="'])((?:${names.map(escape).join('|')})(?::[\\w][\\w.-]{0,127})?(?:@[a-z0-9]+:[A-Fa-f0-9]+)?)(?=$|[\\s"'])`,
  );
  for (const option of options) {
    const match = pattern.exec(option.value);
    if (match) return match[1];
  }
  return undefined;
}
