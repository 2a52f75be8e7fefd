import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Unit, WriteFile } from '../../actions/make-iso/src/cloud-config-types.js';
import type { Machine } from './systemd-machine.js';

/**
 * STAND-IN for coreos-cloudinit (which cannot be had here), written from its documented
 * behaviour, not from its code: it applies the parts of a cloud-config make-iso writes to a
 * booted systemd machine.
 *
 * - `write_files`: each file written with its `permissions` (octal) and `owner`, parent
 *   directories made;
 * - `coreos.units`: each `content` written to /etc/systemd/system/NAME (/run/systemd/system with
 *   `runtime: true`), each drop-in to NAME.d/DROPIN.conf; `mask: true` links the unit to
 *   /dev/null; then one `systemctl daemon-reload`; then `enable: true` enables the units that have
 *   an [Install] section; then each `command` runs in order (`systemctl COMMAND NAME`), waiting
 *   for its job; its result is logged (`Result of "start" on "X": failed`) and never fails the
 *   run, like coreos-cloudinit's own.
 *
 * `ssh_authorized_keys` and `coreos.update` are not applied (nothing here reads them).
 */

interface Config {
  write_files?: WriteFile[];
  coreos?: { units?: Array<Unit & { runtime?: boolean }> };
}

function must(machine: Machine, argv: string[], input?: string): void {
  const result = machine.exec(argv, input);
  if (result.code !== 0) {
    throw new Error(`${argv.join(' ')} in ${machine.name} exited ${result.code}: ${result.stderr}`);
  }
}

function writeFile(machine: Machine, file: string, content: string, mode = '0644'): void {
  must(machine, ['mkdir', '-p', path.dirname(file)]);
  must(machine, ['sh', '-c', 'cat > "$1"', 'write', file], content);
  must(machine, ['chmod', mode, file]);
}

/** Applies `text` to the machine; returns the log lines (one per command result). */
export function applyCloudConfig(machine: Machine, text: string): string[] {
  const config = parseYaml(text) as Config;
  for (const file of config.write_files ?? []) {
    writeFile(machine, file.path, file.content ?? '', file.permissions ?? '0644');
    if (file.owner) must(machine, ['chown', file.owner, file.path]);
  }
  const units = config.coreos?.units ?? [];
  for (const unit of units) {
    const dir = unit.runtime ? '/run/systemd/system' : '/etc/systemd/system';
    if (unit.content !== undefined) writeFile(machine, path.join(dir, unit.name), unit.content);
    for (const dropIn of unit.drop_ins ?? []) {
      if (dropIn.name && dropIn.content !== undefined) {
        writeFile(machine, path.join(dir, `${unit.name}.d`, dropIn.name), dropIn.content);
      }
    }
    if (unit.mask) must(machine, ['ln', '-sf', '/dev/null', path.join(dir, unit.name)]);
  }
  must(machine, ['systemctl', 'daemon-reload']);
  for (const unit of units) {
    if (unit.enable && /^\s*\[Install\]/m.test(unit.content ?? '')) {
      must(machine, ['systemctl', 'enable', unit.name]);
    }
  }
  const log: string[] = [];
  for (const unit of units) {
    if (!unit.command) continue;
    const result = machine.exec(['systemctl', unit.command, unit.name]);
    log.push(
      `Result of "${unit.command}" on "${unit.name}": ${result.code === 0 ? 'done' : 'failed'}`,
    );
  }
  return log;
}
