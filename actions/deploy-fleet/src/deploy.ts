import * as core from '../../core/src/runner.js';
import { UserError, messageOf } from '../../core/src/errors.js';
import { sleep } from '../../core/src/retry.js';
import {
  FleetApiError,
  type FleetClient,
  type FleetMachine,
  type FleetUnit,
  type FleetUnitState,
} from './fleet.js';
import type { PlannedUnit } from './inputs.js';
import { LockLostError } from './lock.js';
import { machinesNow, type MachineNow, type Outcome } from './outcome.js';
import { imageInUnit, machineMatches, requiredMetadata, unitHash } from './unit.js';

/**
 * The deploy itself, on fleet's API (docs/dev/fleet-api.md): read the machines and the unit that runs now,
 * destroy it and wait until it is gone from every machine (strategy replace) or replace its
 * content in place (restart), start the new unit, and poll /state — one request covers every
 * machine — until each eligible machine runs the new unit's hash active/running. A `failed`
 * machine fails the deploy at once; the deadline names the stragglers. On failure the previous
 * unit is started again (rollback).
 */
export type FleetApi = Pick<
  FleetClient,
  'machines' | 'getUnit' | 'putUnit' | 'deleteUnit' | 'unitStates' | 'until'
>;

export interface MachineReport {
  machineID: string;
  address: string;
  loadState: string;
  activeState: string;
  subState: string;
  hash: string;
  /** Seconds from the start of the new unit until this machine ran it (when it did). */
  secondsToRunning?: number;
}

export interface RollbackReport {
  done: boolean;
  ok: boolean;
  message: string;
}

export interface DeployResult {
  machines: MachineReport[];
  previousImage?: string;
  previousHash?: string;
  /** false when the same unit already ran everywhere and nothing was changed. */
  changed: boolean;
  rollback?: RollbackReport;
  /** How it ended (set once it has); `unknown` comes with every machine in `machinesNow`. */
  outcome?: Outcome;
  machinesNow?: MachineNow[];
}

/** A failed deploy: the message says why; the result holds what is known for the summary. */
export class DeployError extends UserError {
  override name = 'DeployError';
  constructor(
    message: string,
    readonly result: DeployResult,
  ) {
    super(message);
  }
}

export interface DeployOptions {
  fleet: FleetApi;
  unit: PlannedUnit;
  strategy: 'replace' | 'restart';
  /** Date.now() value by which everything must be done. */
  deadline: number;
  rollback: boolean;
  /** For previous-image: the repository the image comes from. */
  image: { registry: string; repository: string };
  pollIntervalMs?: number;
  /** The rollback's own budget, from when it starts (default 60 s): it may outlast the deadline. */
  rollbackTimeoutMs?: number;
}

/**
 * How often /state is read while waiting: one small request covers every machine, so a short
 * interval costs the master little and adds at most this much to the deploy.
 */
export const POLL_INTERVAL_MS = 100;

function short(hash: string | undefined): string {
  return hash ? hash.slice(0, 7) : '-';
}

function stateText(state: FleetUnitState | undefined): string {
  return state ? `${state.systemdActiveState}/${state.systemdSubState}` : 'no state reported';
}

/**
 * The machines, once the fleet API answers: the client retries its 503 (fleetd has not
 * registered in etcd yet) until the deadline; then the likely cause is named.
 */
export async function waitForFleetApi(fleet: FleetApi): Promise<FleetMachine[]> {
  try {
    return await fleet.machines();
  } catch (error) {
    if (error instanceof FleetApiError && error.status === 503) {
      throw new UserError(
        `The fleet API still answers 503 (${error.apiMessage}) at the deadline: fleetd cannot reach etcd. Are update-services (etcd) running on the master?`,
      );
    }
    throw error;
  }
}

/** The machines a unit would run on (fleet's MachineMetadata rules). */
export function eligibleMachines(
  machines: FleetMachine[],
  unit: PlannedUnit | FleetUnit,
): FleetMachine[] {
  const required = requiredMetadata(unit.options);
  return machines.filter((machine) => machineMatches(machine.metadata, required));
}

function report(
  machine: FleetMachine,
  state: FleetUnitState | undefined,
  secondsToRunning?: number,
): MachineReport {
  return {
    machineID: machine.id,
    address: machine.primaryIP,
    loadState: state?.systemdLoadState ?? '',
    activeState: state?.systemdActiveState ?? '',
    subState: state?.systemdSubState ?? '',
    hash: state?.hash ?? '',
    secondsToRunning,
  };
}

function isRunning(state: FleetUnitState | undefined, hash: string): boolean {
  return (
    state !== undefined &&
    state.hash === hash &&
    state.systemdActiveState === 'active' &&
    state.systemdSubState === 'running'
  );
}

/** Waits until no machine reports the unit any more (the old one is gone everywhere). */
export async function waitUntilGone(
  fleet: FleetApi,
  name: string,
  machines: FleetMachine[],
  deadline: number,
  pollIntervalMs: number,
): Promise<void> {
  for (;;) {
    const states = await fleet.unitStates(name);
    if (states.length === 0) return;
    if (Date.now() + pollIntervalMs > deadline) {
      const addresses = new Map(machines.map((machine) => [machine.id, machine.primaryIP]));
      throw new UserError(
        `Timed out waiting for the old ${name} to stop: still reported by ${states
          .map(
            (state) =>
              `${state.machineID} (${addresses.get(state.machineID) ?? '?'}): ${stateText(state)}, hash ${short(state.hash)}`,
          )
          .join('; ')}.`,
      );
    }
    await sleep(pollIntervalMs);
  }
}

/**
 * Polls /state until every machine runs `hash` active/running. Fails at once on a `failed`
 * machine; at the deadline, names the machines that are not there.
 */
export async function waitUntilRunning(
  fleet: FleetApi,
  name: string,
  hash: string,
  machines: FleetMachine[],
  deadline: number,
  pollIntervalMs: number,
  started: number,
): Promise<MachineReport[]> {
  const firstRunning = new Map<string, number>();
  const lastSaid = new Map<string, string>();
  for (;;) {
    const states = new Map<string, FleetUnitState>();
    for (const state of await fleet.unitStates(name)) states.set(state.machineID, state);
    const now = Date.now();
    const reports = machines.map((machine) => {
      const state = states.get(machine.id);
      const said = state
        ? `${stateText(state)}${state.hash === hash ? '' : ` (old unit ${short(state.hash)})`}`
        : 'no state reported';
      if (lastSaid.get(machine.id) !== said) {
        core.info(
          `${machine.id} (${machine.primaryIP}): ${said} after ${((now - started) / 1000).toFixed(1)} s`,
        );
        lastSaid.set(machine.id, said);
      }
      if (isRunning(state, hash) && !firstRunning.has(machine.id))
        firstRunning.set(machine.id, now);
      if (!isRunning(state, hash)) firstRunning.delete(machine.id);
      const at = firstRunning.get(machine.id);
      return report(machine, state, at === undefined ? undefined : (at - started) / 1000);
    });
    const failed = machines.filter((machine) => {
      const state = states.get(machine.id);
      return state?.hash === hash && state.systemdActiveState === 'failed';
    });
    if (failed.length > 0) {
      throw new DeployError(
        `${name} failed on ${failed
          .map(
            (machine) =>
              `${machine.id} (${machine.primaryIP}): ${stateText(states.get(machine.id))}`,
          )
          .join('; ')}.`,
        { machines: reports, changed: true },
      );
    }
    if (reports.every((entry) => entry.secondsToRunning !== undefined)) return reports;
    if (Date.now() + pollIntervalMs > deadline) {
      const stragglers = machines.filter((machine) => !firstRunning.has(machine.id));
      throw new DeployError(
        `Timed out: ${stragglers.length} of ${machines.length} machines did not run ${name} (hash ${short(hash)}) active/running: ${stragglers
          .map((machine) => {
            const state = states.get(machine.id);
            const old =
              state && state.hash !== hash ? `, still the old unit ${short(state.hash)}` : '';
            return `${machine.id} (${machine.primaryIP}): ${stateText(state)}${old}`;
          })
          .join('; ')}.`,
        { machines: reports, changed: true },
      );
    }
    await sleep(pollIntervalMs);
  }
}

/** The unit fleet holds under the new unit's name before the deploy, if any. */
interface PreviousUnit {
  unit?: FleetUnit;
  hash?: string;
  /** Its image, when it runs one from the same repository. */
  image?: string;
}

/** The whole deploy (after the API answers): returns the result or throws a DeployError. */
export async function deploy(
  options: DeployOptions,
  allMachines: FleetMachine[],
): Promise<DeployResult> {
  const { fleet, unit } = options;
  const machines = eligibleOrRefused(allMachines, unit);
  const previous = await readPrevious(options);
  const partial: DeployResult = {
    machines: [],
    previousImage: previous.image,
    previousHash: previous.hash,
    changed: false,
  };
  let strategy = options.strategy;
  if (previous.unit && previous.hash === unit.hash && previous.unit.desiredState === 'launched') {
    const unchanged = await unchangedResult(fleet, unit, machines, partial);
    if (unchanged) return { ...unchanged, outcome: 'deployed' };
    core.info(
      'The same unit is in fleet but not running everywhere: destroying and starting it again.',
    );
    strategy = 'replace';
  }
  try {
    const result = await rollOut(options, strategy, previous.unit, machines, allMachines, partial);
    return { ...result, outcome: 'deployed' };
  } catch (thrown) {
    throw await deployFailure(thrown, options, previous, machines, allMachines, partial);
  }
}

/** The machines the unit will run on; none is an error that lists what fleet knows. */
function eligibleOrRefused(allMachines: FleetMachine[], unit: PlannedUnit): FleetMachine[] {
  const machines = eligibleMachines(allMachines, unit);
  if (machines.length === 0) {
    throw new UserError(
      allMachines.length === 0
        ? 'fleet knows no machine: no fleetd has registered.'
        : `No machine matches the unit's MachineMetadata (machines: ${allMachines
            .map((machine) => `${machine.id} ${JSON.stringify(machine.metadata ?? {})}`)
            .join(', ')}).`,
    );
  }
  core.info(
    `${machines.length} eligible machine(s) of ${allMachines.length}: ${machines.map((machine) => `${machine.id} (${machine.primaryIP})`).join(', ')}`,
  );
  return machines;
}

async function readPrevious(options: DeployOptions): Promise<PreviousUnit> {
  const { fleet, unit } = options;
  const previous = await fleet.getUnit(unit.name);
  const hash = previous ? unitHash(previous.options) : undefined;
  const image = previous
    ? imageInUnit(previous.options, options.image.registry, options.image.repository)
    : undefined;
  core.info(
    previous
      ? `Now in fleet: ${unit.name} (${previous.desiredState}, hash ${short(hash)}, image ${image ?? 'not recognised'}).`
      : `Now in fleet: no unit ${unit.name}.`,
  );
  return { unit: previous, hash, image };
}

/** The result when the same unit already runs on every machine; undefined when it does not. */
async function unchangedResult(
  fleet: FleetApi,
  unit: PlannedUnit,
  machines: FleetMachine[],
  partial: DeployResult,
): Promise<DeployResult | undefined> {
  const states = await fleet.unitStates(unit.name);
  const byMachine = new Map(states.map((state) => [state.machineID, state]));
  if (!machines.every((machine) => isRunning(byMachine.get(machine.id), unit.hash))) {
    return undefined;
  }
  core.info(
    `${unit.name} with this content (hash ${short(unit.hash)}) already runs on every machine: nothing to change.`,
  );
  return {
    ...partial,
    machines: machines.map((machine) => report(machine, byMachine.get(machine.id), 0)),
  };
}

/** Destroys the old unit (strategy replace), starts the new one, waits until it runs. */
async function rollOut(
  options: DeployOptions,
  strategy: DeployOptions['strategy'],
  previous: FleetUnit | undefined,
  machines: FleetMachine[],
  allMachines: FleetMachine[],
  partial: DeployResult,
): Promise<DeployResult> {
  const { fleet, unit, deadline } = options;
  const poll = options.pollIntervalMs ?? POLL_INTERVAL_MS;
  if (strategy === 'replace' && previous) {
    await core.group(
      `Destroy ${unit.name} and wait until it is gone from every machine`,
      async () => {
        // Marked before the call: its answer may be lost after fleet acted on it.
        partial.changed = true;
        await fleet.deleteUnit(unit.name);
        const started = Date.now();
        await waitUntilGone(fleet, unit.name, allMachines, deadline, poll);
        core.info(`Gone from every machine after ${((Date.now() - started) / 1000).toFixed(1)} s.`);
      },
    );
  }
  const started = Date.now();
  const machinesReport = await core.group(
    `Start ${unit.name} (hash ${short(unit.hash)}) and wait until every machine runs it`,
    async () => {
      partial.changed = true;
      const status = await fleet.putUnit(unit.name, 'launched', unit.options);
      core.info(`PUT ${unit.name}: ${status === 201 ? '201 (created)' : '204 (unchanged)'}.`);
      return waitUntilRunning(fleet, unit.name, unit.hash, machines, deadline, poll, started);
    },
  );
  return { ...partial, machines: machinesReport, changed: true };
}

/** The DeployError for a failed roll-out, after the rollback when anything was changed. */
async function deployFailure(
  thrown: unknown,
  options: DeployOptions,
  previous: PreviousUnit,
  machines: FleetMachine[],
  allMachines: FleetMachine[],
  partial: DeployResult,
): Promise<DeployError> {
  const failure =
    thrown instanceof DeployError ? thrown : new DeployError(messageOf(thrown), partial);
  failure.result.previousImage = previous.image;
  failure.result.previousHash = previous.hash;
  failure.result.changed = partial.changed || failure.result.changed;
  if (failure.result.machines.length === 0) {
    failure.result.machines = machines.map((machine) => report(machine, undefined));
  }
  // A lost lock: another run may be changing the unit now, and a rollback would undo its work.
  if (failure.result.changed && !(thrown instanceof LockLostError)) {
    failure.result.rollback = await rollBack(options, previous.unit, allMachines);
  }
  const result = failure.result;
  result.outcome = !result.changed || result.rollback?.ok ? 'rolled-back' : 'unknown';
  if (result.outcome === 'unknown') {
    // No budget is left: one read, and for a machine it cannot reach, the state last seen.
    const lastSeen = new Map(
      result.machines
        .filter((machine) => machine.hash !== '')
        .map((machine) => [machine.machineID, unitState(options.unit.name, machine)]),
    );
    result.machinesNow = await machinesNow(
      () => options.fleet.until(0).unitStates(options.unit.name),
      allMachines,
      { name: options.unit.name, newHash: options.unit.hash, previousHash: previous.hash },
      lastSeen,
    );
  }
  return failure;
}

function unitState(name: string, machine: MachineReport): FleetUnitState {
  return {
    name,
    machineID: machine.machineID,
    hash: machine.hash,
    systemdLoadState: machine.loadState,
    systemdActiveState: machine.activeState,
    systemdSubState: machine.subState,
  };
}

/**
 * Puts the previous unit back (or removes the new one when there was none), with a client that
 * retries within the rollback's own budget, so a deploy that used up its deadline still rolls back.
 */
async function rollBack(
  options: DeployOptions,
  previous: FleetUnit | undefined,
  allMachines: FleetMachine[],
): Promise<RollbackReport> {
  const { unit } = options;
  if (!options.rollback) {
    const message = 'rollback is false: the new unit was left as it is.';
    core.warning(message);
    return { done: false, ok: false, message };
  }
  const poll = options.pollIntervalMs ?? POLL_INTERVAL_MS;
  const budgetMs = options.rollbackTimeoutMs ?? 60_000;
  const deadline = Date.now() + budgetMs;
  const fleet = options.fleet.until(deadline);
  return core.group(`Roll back (within ${Math.round(budgetMs / 1000)} s)`, async () => {
    try {
      await fleet.deleteUnit(unit.name);
      await waitUntilGone(fleet, unit.name, allMachines, deadline, poll);
      if (!previous) {
        const message = `rolled back: nothing ran ${unit.name} before, and the new unit is destroyed.`;
        core.info(message);
        return { done: true, ok: true, message };
      }
      const hash = unitHash(previous.options);
      const desired = previous.desiredState === 'launched' ? 'launched' : previous.desiredState;
      await fleet.putUnit(unit.name, desired, previous.options);
      if (desired !== 'launched') {
        const message = `rolled back: the previous ${unit.name} (hash ${short(hash)}) is back, ${desired}.`;
        core.info(message);
        return { done: true, ok: true, message };
      }
      const machines = eligibleMachines(allMachines, previous);
      await waitUntilRunning(fleet, unit.name, hash, machines, deadline, poll, Date.now());
      const message = `rolled back: the previous ${unit.name} (hash ${short(hash)}) runs again on all ${machines.length} machine(s).`;
      core.info(message);
      return { done: true, ok: true, message };
    } catch (error) {
      const message = `rollback FAILED: ${messageOf(error)}`;
      core.error(message);
      return { done: true, ok: false, message };
    }
  });
}
