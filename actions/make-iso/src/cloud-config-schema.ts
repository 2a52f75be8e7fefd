import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';

/**
 * The cloud-config schema make-iso keeps: the coreos-cloudinit keys that Flatcar Container Linux
 * still reads, written with UNDERSCORES.
 *
 * Why underscores only: Flatcar's coreos-cloudinit reads each key by its exact underscore name,
 * so a hyphenated key such as `drop-ins` is silently ignored (an sshd.socket drop-in written that
 * way is dropped and SSH stays on port 22), while its own validator accepts both spellings and
 * does not warn (docs/dev/tool-facts.md). This schema rejects unknown keys outright, and
 * {@link schemaFindings} names hyphenated spellings of known keys with that explanation.
 *
 * Left out on purpose: `coreos.etcd`, `coreos.etcd2`, `coreos.fleet` (they configure units Flatcar
 * no longer ships), `coreos.flannel` (not part of this cluster) and the deprecated
 * `coreos_ssh_import_*` user keys (they fetch keys from the network at boot).
 */

const unitName =
  '^[A-Za-z0-9:_.@\\\\-]+\\.(service|socket|timer|path|mount|automount|target|slice|scope|swap|device)$';

const dropIn = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'content'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]+\\.conf$' },
    content: { type: 'string' },
  },
} as const;

const unit = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: unitName },
    mask: { type: 'boolean' },
    enable: { type: 'boolean' },
    runtime: { type: 'boolean' },
    content: { type: 'string' },
    command: {
      type: 'string',
      enum: [
        'start',
        'stop',
        'restart',
        'reload',
        'try-restart',
        'reload-or-restart',
        'reload-or-try-restart',
      ],
    },
    drop_ins: { type: 'array', items: dropIn },
  },
} as const;

const writeFile = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: { type: 'string', pattern: '^/' },
    content: { type: 'string' },
    encoding: {
      type: 'string',
      enum: ['b64', 'base64', 'gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64'],
    },
    owner: { type: 'string' },
    permissions: { type: 'string', pattern: '^0?[0-7]{3,4}$' },
  },
} as const;

const stringList = { type: 'array', items: { type: 'string' } } as const;

const user = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    passwd: { type: 'string' },
    groups: stringList,
    ssh_authorized_keys: stringList,
    gecos: { type: 'string' },
    homedir: { type: 'string' },
    no_create_home: { type: 'boolean' },
    primary_group: { type: 'string' },
    no_user_group: { type: 'boolean' },
    system: { type: 'boolean' },
    no_log_init: { type: 'boolean' },
    shell: { type: 'string' },
  },
} as const;

export const CLOUD_CONFIG_SCHEMA = {
  $id: 'https://arch-core.invalid/schemas/flatcar-cloud-config.json',
  title: 'coreos-cloudinit cloud-config as Flatcar reads it (underscore keys)',
  type: 'object',
  additionalProperties: false,
  properties: {
    hostname: { type: 'string', pattern: '^[A-Za-z0-9]([A-Za-z0-9-.]{0,251}[A-Za-z0-9])?$' },
    ssh_authorized_keys: stringList,
    write_files: { type: 'array', items: writeFile },
    users: { type: 'array', items: user },
    manage_etc_hosts: { type: 'string', enum: ['localhost'] },
    coreos: {
      type: 'object',
      additionalProperties: false,
      properties: {
        units: { type: 'array', items: unit },
        oem: {
          type: 'object',
          additionalProperties: false,
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            version_id: { type: 'string' },
            home_url: { type: 'string' },
            bug_report_url: { type: 'string' },
          },
        },
        update: {
          type: 'object',
          additionalProperties: false,
          properties: {
            reboot_strategy: {
              type: 'string',
              enum: ['reboot', 'etcd-lock', 'off'],
            },
            group: { type: 'string' },
            server: { type: 'string' },
          },
        },
        locksmith: {
          type: 'object',
          additionalProperties: false,
          properties: {
            endpoint: { type: 'string' },
            etcd_cafile: { type: 'string' },
            etcd_certfile: { type: 'string' },
            etcd_keyfile: { type: 'string' },
            etcd_username: { type: 'string' },
            etcd_password: { type: 'string' },
            group: { type: 'string' },
            window_start: { type: 'string' },
            window_length: { type: 'string' },
          },
        },
      },
    },
  },
} as const;

/** Keys coreos-cloudinit once read but that configure what Flatcar no longer ships. */
const RETIRED: Record<string, string> = {
  'coreos.etcd': 'configures etcd 0.4, which Flatcar does not ship',
  'coreos.etcd2': 'configures etcd2, which left CoreOS in 2018 and is not in Flatcar',
  'coreos.fleet':
    'configures the fleet.service Flatcar no longer ships (make-iso installs fleet itself)',
  'coreos.flannel': 'configures flannel, which this cluster does not use',
};

let validate: ReturnType<Ajv['compile']> | undefined;

function validator(): ReturnType<Ajv['compile']> {
  validate ??= new Ajv({ allErrors: true, strict: true }).compile(CLOUD_CONFIG_SCHEMA);
  return validate;
}

function pointer(instancePath: string): string {
  if (instancePath === '') return '(top level)';
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/')}`))
    .join('')
    .replace(/^\./, '');
}

function describe(error: ErrorObject): string {
  const where = pointer(error.instancePath);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const full = where === '(top level)' ? key : `${where}.${key}`;
      if (key.includes('-')) {
        return `${full}: hyphenated key; Flatcar's coreos-cloudinit (yaml.v3, since 2024) silently ignores it, write "${key.replace(/-/g, '_')}".`;
      }
      const retired = RETIRED[full];
      return retired
        ? `${full}: ${retired}.`
        : `${full}: unknown key (coreos-cloudinit would ignore it).`;
    }
    case 'type':
      return `${where}: must be ${(error.params as { type: string }).type}.`;
    case 'enum':
      return `${where}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}.`;
    case 'required':
      return `${where}: lacks "${(error.params as { missingProperty: string }).missingProperty}".`;
    default:
      return `${where}: ${error.message ?? error.keyword}.`;
  }
}

/**
 * Checks a cloud-config text: `#cloud-config` first line, valid YAML, only known keys of the
 * right types. Returns one line per finding (none when the text is good).
 */
export function schemaFindings(text: string): string[] {
  const findings: string[] = [];
  if (!text.startsWith('#cloud-config\n')) {
    findings.push('line 1: a cloud-config must start with "#cloud-config".');
  }
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    return [...findings, `not valid YAML: ${(error as Error).message.split('\n')[0]}`];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [...findings, '(top level): must be a mapping of keys.'];
  }
  const check = validator();
  if (!check(value)) {
    const seen = new Set<string>();
    for (const error of check.errors ?? []) {
      const line = describe(error);
      if (!seen.has(line)) findings.push(line);
      seen.add(line);
    }
  }
  return findings;
}
