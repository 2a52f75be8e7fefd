// What scripts and the CLI may use from deploy-fleet: the shapes of its outputs.
// Everything else in this action is its own business.
export type { MachineReport } from './deploy.js';
