import { messageOf } from '../../core/src/errors.js';
import type { FleetMachine, FleetUnitState } from './fleet.js';

/**
 * How a deploy ends, one of three, each said in the log, the summary and the `result` output:
 * - `deployed`: the new unit runs active/running on every eligible machine (checked);
 * - `rolled-back`: the cluster is as before: the previous unit was put back and checked running
 *   on every machine (or, when there was none, the new one checked gone), or the deploy failed
 *   before it changed anything in fleet;
 * - `unknown`: neither could be checked; every machine is listed with what it runs.
 */
export type Outcome = 'deployed' | 'rolled-back' | 'unknown';

/** One machine of an `unknown` end: what it runs now (or was last seen running). */
export interface MachineNow {
  machineID: string;
  address: string;
  runs: string;
}

/** Reads the unit's states once (no budget is left to retry). */
export type StateReader = () => Promise<FleetUnitState[]>;

/** The hashes a listing names: which one is the new unit, which the previous. */
export interface KnownHashes {
  name: string;
  newHash: string;
  previousHash?: string;
}

function describe(state: FleetUnitState | undefined, known: KnownHashes): string {
  if (!state) return `runs no ${known.name}`;
  const which =
    state.hash === known.newHash
      ? ' (the new unit)'
      : state.hash === known.previousHash
        ? ' (the previous unit)'
        : '';
  return `${known.name} hash ${state.hash.slice(0, 7)}${which}, ${state.systemdActiveState}/${state.systemdSubState}`;
}

/**
 * Every machine fleet knows, with the unit hash it runs now (or that it runs none); when fleet
 * does not answer, what each was last seen running, and why it could not be read now.
 */
export async function machinesNow(
  read: StateReader,
  machines: FleetMachine[],
  known: KnownHashes,
  lastSeen: Map<string, FleetUnitState>,
): Promise<MachineNow[]> {
  let states: Map<string, FleetUnitState> | undefined;
  let why = '';
  try {
    states = new Map((await read()).map((state) => [state.machineID, state]));
  } catch (error) {
    why = messageOf(error);
  }
  return machines.map((machine) => {
    const entry = { machineID: machine.id, address: machine.primaryIP };
    if (states) return { ...entry, runs: describe(states.get(machine.id), known) };
    const seen = lastSeen.get(machine.id);
    const before = seen
      ? `last seen during the deploy: ${describe(seen, known)}`
      : `not seen running ${known.name} during the deploy`;
    return { ...entry, runs: `not readable now (${why}); ${before}` };
  });
}
