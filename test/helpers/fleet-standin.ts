/**
 * A STAND-IN for fleet v1.0.0's HTTP API and its agents — not fleet itself. fleet cannot be
 * installed from this machine's package registries, so the tests talk to this server instead.
 * It was written from fleet v1.0.0's published behaviour (its API v1, and its unit semantics: a
 * unit's hash is the SHA-1 of its options serialized as a unit file; MachineMetadata and Global
 * in [X-Fleet]); no fleet code was used. The behaviours the deployer relies on, and why:
 * docs/dev/fleet-api.md.
 *
 * What it models:
 * - the API v1 under /fleet/v1 (and /v1-alpha): GET /machines, GET /units, GET/PUT/DELETE
 *   /units/NAME, GET /state?unitName=; `alt=json`; 415 for a PUT that is not JSON; 201 / 204 /
 *   409 / 400 / 404 as fleet answers them; empty lists as `{}`; pages with `nextPageToken`;
 *   errors as {"error":{"code","message"}}; 503 "fleet server unable to communicate with etcd"
 *   until `registered()` (e.g. until the etcd unit was started); a PUT with an invalid
 *   desiredState on an existing unit answers 204 and then every call 500s
 *   (fleet-standin/api.ts);
 * - one agent per machine that reconciles on a timer (default 5 s, with staggered phases): it
 *   starts a unit (activating/start, then after `startMs` active/running — or failed/failed, or
 *   activating forever, as the machine's behaviour says), stops a destroyed one (its state then
 *   disappears), and replaces in-place content changes (fleet-standin/agents.ts);
 * - the destroy/start race: an agent that missed the gap (the unit was destroyed and created again
 *   between two of its reconciles) keeps the old process and reports the old unit for `staleMs`
 *   (real fleet: up to ~24 s) before it notices.
 * It listens on a unix socket; tests reach it through a real sshd, by `fleetctl fd-forward` (the
 * stand-in in test/fixtures/fleet-standin/, on the SSH user's PATH) or by a direct-streamlocal
 * channel (fleet-standin/cluster.ts).
 */
export {
  startFleetStandin,
  type FleetStandin,
  type RecordedRequest,
  type StandinOptions,
} from './fleet-standin/api.js';
export {
  startFleetCluster,
  type FleetCluster,
  type FleetClusterOptions,
} from './fleet-standin/cluster.js';
export {
  standinOptions,
  standinUnitHash,
  type MachineBehaviour,
  type StandinEvent,
  type StandinMachine,
} from './fleet-standin/state.js';
