/**
 * The parts of a cloud-config that make-iso writes (cloud-config.ts) and the lock-down audit
 * reads (audit.ts): the shapes of units and files, and the names and paths both agree on.
 */

/** A drop-in of a unit (`coreos.units[].drop_ins[]`). */
export interface DropIn {
  name?: string;
  content?: string;
}

/** A systemd unit under `coreos.units`. */
export interface Unit {
  name: string;
  mask?: boolean;
  enable?: boolean;
  command?: string;
  content?: string;
  drop_ins?: DropIn[];
}

/** A file under `write_files`. */
export interface WriteFile {
  path: string;
  permissions?: string;
  owner?: string;
  content?: string;
  encoding?: string;
}

export const ETCD_UNIT = 'arch-core-etcd.service';
export const REGISTRY_UNIT = 'arch-core-registry.service';
export const FLEET_CONF = '/etc/fleet/fleet.conf';
export const SSHD_CONFIG = '/etc/ssh/sshd_config';
export const DOCKER_DAEMON_JSON = '/etc/docker/daemon.json';
export const IPTABLES_RULES = '/var/lib/iptables/rules-save';
export const IP6TABLES_RULES = '/var/lib/ip6tables/rules-save';
export const TIMESYNCD_CONF = '/etc/systemd/timesyncd.conf';
