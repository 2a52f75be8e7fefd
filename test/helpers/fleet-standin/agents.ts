import {
  agentUnits,
  eligible,
  isGlobal,
  recordEvent,
  unitText,
  type AgentUnit,
  type RegistryUnit,
  type StandinMachine,
  type StandinState,
} from './state.js';

/**
 * One agent per machine, reconciling on a timer (staggered phases) what it runs with what the
 * registry says should run on it: it starts units (activating, then running — or failed, or
 * activating forever, as the machine's behaviour says), stops destroyed ones and replaces
 * in-place content changes. An agent that missed a destroy/start gap keeps the old unit for a
 * while before it notices, as fleet v1.0.0's agents do.
 */

export interface AgentTiming {
  /** Reconcile interval. */
  reconcileMs: number;
  /** Time a unit spends activating before it runs (or fails). */
  startMs: number;
  /** How long an agent that missed a destroy/start gap keeps the old unit. */
  staleMs: number;
}

function startUnit(
  state: StandinState,
  machine: StandinMachine,
  unit: RegistryUnit,
  startMs: number,
): void {
  const units = agentUnits(state, machine.id);
  const old = units.get(unit.name);
  if (old?.timer) clearTimeout(old.timer);
  const behaviour = machine.behaviour?.({ name: unit.name, text: unitText(unit.options) }) ?? 'run';
  if (behaviour === 'silent') {
    units.delete(unit.name);
    recordEvent(state, `${unit.name} ${unit.hash.slice(0, 7)}: agent silent`, machine.id);
    return;
  }
  const running: AgentUnit = {
    name: unit.name,
    hash: unit.hash,
    generation: unit.generation,
    load: 'loaded',
    active: 'activating',
    sub: 'start',
  };
  units.set(unit.name, running);
  recordEvent(state, `${unit.name} ${unit.hash.slice(0, 7)}: activating`, machine.id);
  if (behaviour === 'hang') return;
  running.timer = setTimeout(() => {
    running.timer = undefined;
    if (behaviour === 'fail') {
      running.active = 'failed';
      running.sub = 'failed';
    } else {
      running.active = 'active';
      running.sub = 'running';
    }
    recordEvent(
      state,
      `${unit.name} ${unit.hash.slice(0, 7)}: ${running.active}/${running.sub}`,
      machine.id,
    );
  }, startMs);
}

/** The launched units the scheduler puts on this machine. */
function desiredOn(state: StandinState, machine: StandinMachine): Map<string, RegistryUnit> {
  const desired = new Map<string, RegistryUnit>();
  for (const unit of state.registry.values()) {
    if (unit.desiredState !== 'launched') continue;
    const scheduledHere = isGlobal(unit.options)
      ? eligible(machine, unit.options)
      : state.machines.find((candidate) => eligible(candidate, unit.options))?.id === machine.id;
    if (scheduledHere) desired.set(unit.name, unit);
  }
  return desired;
}

function reconcile(state: StandinState, machine: StandinMachine, timing: AgentTiming): void {
  const units = agentUnits(state, machine.id);
  const desired = desiredOn(state, machine);
  for (const name of new Set([...units.keys(), ...desired.keys()])) {
    const current = units.get(name);
    const want = desired.get(name);
    if (!want) {
      if (current) {
        if (current.timer) clearTimeout(current.timer);
        units.delete(name);
        recordEvent(state, `${name}: stopped and unloaded`, machine.id);
      }
    } else if (!current) {
      startUnit(state, machine, want, timing.startMs);
    } else if (current.hash !== want.hash) {
      if (current.generation === want.generation) {
        startUnit(state, machine, want, timing.startMs);
      } else {
        // The race: destroyed and created again between two reconciles of this agent.
        if (current.staleSince === undefined) {
          current.staleSince = Date.now();
          recordEvent(state, `${name}: missed the destroy gap, keeps the old unit`, machine.id);
        }
        if (Date.now() - current.staleSince >= timing.staleMs) {
          startUnit(state, machine, want, timing.startMs);
        }
      }
    } else if (current.generation !== want.generation) {
      current.generation = want.generation;
    }
  }
}

/** Starts every machine's agent; returns a function that stops them all. */
export function startAgents(state: StandinState, timing: AgentTiming): () => void {
  const timers: NodeJS.Timeout[] = [];
  state.machines.forEach((machine, index) => {
    const phase = Math.round((timing.reconcileMs * index) / Math.max(1, state.machines.length));
    const first = setTimeout(() => {
      reconcile(state, machine, timing);
      timers.push(setInterval(() => reconcile(state, machine, timing), timing.reconcileMs));
    }, phase);
    timers.push(first);
  });
  return () => {
    for (const timer of timers) clearTimeout(timer);
    for (const units of state.agents.values())
      for (const unit of units.values()) if (unit.timer) clearTimeout(unit.timer);
  };
}

/** Puts a unit straight onto every eligible machine, already in its end state (test set-up). */
export function seedAgents(state: StandinState, unit: RegistryUnit): void {
  for (const machine of state.machines) {
    if (!eligible(machine, unit.options)) continue;
    const behaviour =
      machine.behaviour?.({ name: unit.name, text: unitText(unit.options) }) ?? 'run';
    if (behaviour === 'silent') continue;
    agentUnits(state, machine.id).set(unit.name, {
      name: unit.name,
      hash: unit.hash,
      generation: unit.generation,
      load: 'loaded',
      active: behaviour === 'run' ? 'active' : behaviour === 'fail' ? 'failed' : 'activating',
      sub: behaviour === 'run' ? 'running' : behaviour === 'fail' ? 'failed' : 'start',
    });
  }
}
