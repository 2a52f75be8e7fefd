import { createHash } from 'node:crypto';

/** The cluster state the stand-in's API and its agents share, and fleet's unit semantics. */

export type MachineBehaviour = 'run' | 'fail' | 'hang' | 'silent';

export interface StandinMachine {
  id: string;
  primaryIP: string;
  metadata?: Record<string, string>;
  /** What this machine's systemd does with a unit (default: run it). `silent`: never reports. */
  behaviour?: (unit: { name: string; text: string }) => MachineBehaviour;
}

export interface Option {
  section: string;
  name: string;
  value: string;
}

export interface RegistryUnit {
  name: string;
  desiredState: string;
  options: Option[];
  hash: string;
  /** Incremented on every create after a destroy (the "gap"). */
  generation: number;
}

export interface AgentUnit {
  name: string;
  hash: string;
  generation: number;
  load: string;
  active: string;
  sub: string;
  timer?: NodeJS.Timeout;
  /** When the agent first saw that the registry holds a new generation it missed. */
  staleSince?: number;
}

export interface StandinEvent {
  at: number;
  machine?: string;
  what: string;
}

export interface StandinState {
  machines: StandinMachine[];
  /** The units the cluster holds (fleet's etcd registry). */
  registry: Map<string, RegistryUnit>;
  /** Per unit name, how often it was created. */
  generations: Map<string, number>;
  /** Per machine id, what its agent runs. */
  agents: Map<string, Map<string, AgentUnit>>;
  events: StandinEvent[];
  /** Set by a PUT of an invalid desiredState on an existing unit: every call 500s after. */
  broken: boolean;
}

export function newState(machines: StandinMachine[]): StandinState {
  return {
    machines,
    registry: new Map(),
    generations: new Map(),
    agents: new Map(machines.map((machine) => [machine.id, new Map()])),
    events: [],
    broken: false,
  };
}

export function recordEvent(state: StandinState, what: string, machine?: string): void {
  state.events.push({ at: Date.now(), machine, what });
}

/** The next generation of a unit name: one more than the last create. */
export function nextGeneration(state: StandinState, name: string): number {
  const generation = (state.generations.get(name) ?? 0) + 1;
  state.generations.set(name, generation);
  return generation;
}

export function agentUnits(state: StandinState, machineId: string): Map<string, AgentUnit> {
  return state.agents.get(machineId) as Map<string, AgentUnit>;
}

/** The SHA-1 of the unit serialized as fleet serializes it (sections in first-seen order). */
export function standinUnitHash(options: Option[]): string {
  const order: string[] = [];
  const grouped = new Map<string, string[]>();
  for (const option of options) {
    if (!grouped.has(option.section)) {
      grouped.set(option.section, []);
      order.push(option.section);
    }
    grouped.get(option.section)?.push(`${option.name}=${option.value}\n`);
  }
  const text = order
    .map((section) => `[${section}]\n${(grouped.get(section) ?? []).join('')}`)
    .join('\n');
  return createHash('sha1').update(text).digest('hex');
}

/** A simple unit text → options (for seeding; no continuation lines). */
export function standinOptions(text: string): Option[] {
  const options: Option[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1] as string;
    else {
      const equals = line.indexOf('=');
      options.push({
        section,
        name: line.slice(0, equals).trim(),
        value: line.slice(equals + 1).trim(),
      });
    }
  }
  return options;
}

/** The unit as the text a machine's behaviour callback looks at. */
export function unitText(options: Option[]): string {
  return options.map((option) => `[${option.section}] ${option.name}=${option.value}`).join('\n');
}

function xFleet(options: Option[], name: string): string[] {
  return options
    .filter((option) => option.section === 'X-Fleet' && option.name === name)
    .flatMap((option) =>
      option.value.startsWith('"')
        ? option.value.split(/"\s+"/).map((v) => v.replace(/"/g, ''))
        : [option.value],
    );
}

export function isGlobal(options: Option[]): boolean {
  const values = xFleet(options, 'Global');
  return ['true', 'yes', '1', 'on', 't'].includes((values[values.length - 1] ?? '').toLowerCase());
}

/** Whether the machine's metadata satisfies the unit's MachineMetadata. */
export function eligible(machine: StandinMachine, options: Option[]): boolean {
  const required = new Map<string, Set<string>>();
  for (const pair of xFleet(options, 'MachineMetadata')) {
    const [key, value, extra] = pair.split('=');
    if (!key || !value || extra !== undefined) continue;
    required.set(key, (required.get(key) ?? new Set()).add(value));
  }
  for (const [key, values] of required) {
    const local = machine.metadata?.[key];
    if (local === undefined || !values.has(local)) return false;
  }
  return true;
}
