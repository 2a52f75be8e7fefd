import * as core from '../../core/src/runner.js';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { auditCloudConfig, formatAudit, type AuditResult } from './audit.js';
import { UserError } from '../../core/src/errors.js';
import { checkOutputPath, humanBytes, replaceFileSet, sha256 } from '../../core/src/files.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { sourceDateEpoch } from '../../core/src/tar.js';
import { renderCloudConfig } from './cloud-config.js';
import {
  downloadImage,
  resolveImage,
  IMAGE_FILE,
  type DownloadedImage,
  type ResolvedImage,
} from './image.js';
import { parseInputs, type Inputs, type Role } from './inputs.js';
import { DEFAULT_EPOCH, findIsoTool, makeConfigDrive, type IsoTool } from './iso.js';

interface Made {
  role: Role;
  text: string;
  audit: AuditResult;
}

/** Renders and audits each role's cloud-config; any failing point fails the run. */
export function renderAndAudit(inputs: Inputs): Made[] {
  const made = inputs.roles.map((role) => {
    const text = renderCloudConfig(inputs, role);
    return {
      role,
      text,
      audit: auditCloudConfig(text, { allowDefaultPorts: inputs.allowDefaultPorts }),
    };
  });
  for (const { role, audit } of made) core.info(formatAudit(audit, `${role}.cloud-config.yml`));
  const failures = made.flatMap(({ role, audit }) => [
    ...audit.points
      .filter((point) => !point.pass)
      .map((point) => `${role} point ${point.point} (${point.title}): ${point.reason}`),
    ...audit.schema.map((finding) => `${role} schema: ${finding}`),
  ]);
  if (failures.length > 0) {
    throw new UserError(
      `The generated cloud-config fails the lock-down audit: ${failures.join('; ')}`,
    );
  }
  return made;
}

/** The checksum file of make-iso's file set in the output directory (sha256sum format). */
export const CHECKSUMS_FILE = 'make-iso.sha256';

/** Writes each role's cloud-config and, with an ISO tool, its ISO as one file set; by output. */
async function writeOutputs(
  inputs: Inputs,
  made: Made[],
  tool: IsoTool | undefined,
  epoch: number,
): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  const placed = await replaceFileSet(inputs.output, CHECKSUMS_FILE, async (staging) => {
    for (const { role, text } of made) {
      const config = `${role}.cloud-config.yml`;
      await fs.writeFile(path.join(staging, config), text, { mode: 0o644 });
      names[`${role}-cloud-config`] = config;
      if (tool) {
        const iso = `${role}.iso`;
        const work = path.join(staging, `.${role}-tree`);
        await makeConfigDrive(tool, text, path.join(staging, iso), work, epoch);
        names[`${role}-iso`] = iso;
      }
    }
    // An ISO of an earlier run would no longer match its cloud-config.
    const obsolete = tool ? [] : made.map(({ role }) => `${role}.iso`);
    return { files: Object.values(names), obsolete };
  });
  return Object.fromEntries(
    Object.entries(names).map(([output, name]) => [output, placed[name] as string]),
  );
}

async function image(
  inputs: Inputs,
): Promise<{ resolved?: ResolvedImage; downloaded?: DownloadedImage }> {
  return core.group(`Flatcar ${inputs.channel} VMware image`, async () => {
    let resolved: ResolvedImage;
    try {
      resolved = await resolveImage(inputs.imageBaseUrl);
    } catch (error) {
      if (inputs.downloadImage) throw error;
      core.warning(
        `The Flatcar ${inputs.channel} version could not be read (${(error as Error).message}); vmware-image-version is left empty.`,
      );
      return { resolved: undefined };
    }
    core.info(`Flatcar ${inputs.channel} ${resolved.version}: ${resolved.url}`);
    if (!inputs.downloadImage) return { resolved };
    const downloaded = await downloadImage(resolved, inputs.imageSigningKey);
    core.info(
      `${downloaded.fromCache ? 'From the tool cache' : 'Downloaded and cached'}: ${downloaded.path} (${downloaded.verification})`,
    );
    return { resolved, downloaded };
  });
}

export async function run(): Promise<void> {
  const inputs = parseInputs(rawInputsFromEnv());
  await checkOutputPath('output', inputs.output, 'directory');
  const made = await core.group('Cloud-configs and their lock-down audit', async () =>
    renderAndAudit(inputs),
  );
  const tool = inputs.format === 'user-data' ? undefined : await findIsoTool();
  if (tool === 'genisoimage')
    core.warning(
      'xorriso is not installed: genisoimage makes the ISOs, which are not byte-for-byte reproducible.',
    );
  const epoch = sourceDateEpoch() ?? DEFAULT_EPOCH;
  const { resolved, downloaded } = await image(inputs);
  const files = await core.group(`Writing ${inputs.output}`, async () =>
    writeOutputs(inputs, made, tool, epoch),
  );

  const audit = Object.fromEntries(made.map(({ role, audit: result }) => [role, result]));
  setOutputs({
    ...files,
    'vmware-image-url': resolved?.url ?? `${inputs.imageBaseUrl}/${IMAGE_FILE}`,
    'vmware-image-version': resolved?.version ?? '',
    'vmware-image-path': downloaded?.path,
    audit: JSON.stringify(audit),
  });

  const rows: Array<Array<string | number>> = [];
  for (const [, file] of Object.entries(files)) {
    const data = await fs.readFile(file);
    rows.push([path.basename(file), humanBytes(data.length), sha256(data)]);
  }
  const auditRows = (made[0]?.audit.points ?? []).map((point) => [
    `${point.point}. ${point.title}`,
    ...made.map(({ audit: result }) => {
      const entry = result.points.find((p) => p.point === point.point);
      return entry?.pass ? 'pass' : 'FAIL';
    }),
  ]);
  await writeSummary(
    'make-iso',
    [
      ['Roles', inputs.roles.join(', ')],
      ['Master address', inputs.masterAddress],
      [
        'Ports',
        `ssh ${inputs.sshPort}, etcd ${inputs.etcdClientPort} (peer ${inputs.etcdPeerPort}, loopback), registry ${inputs.registryPort}`,
      ],
      ['fleet / etcd', `${inputs.fleet.version} / ${inputs.etcd.version}`],
      [
        'Flatcar',
        resolved ? `${inputs.channel} ${resolved.version}` : `${inputs.channel} (version unknown)`,
      ],
      ...(downloaded ? ([['Image', downloaded.path]] as Array<[string, string]>) : []),
      ...(tool
        ? ([['ISO tool', `${tool}, SOURCE_DATE_EPOCH=${epoch}`]] as Array<[string, string]>)
        : []),
    ],
    [
      { title: 'Files', headers: ['file', 'size', 'sha256'], rows },
      {
        title: 'Lock-down audit',
        headers: ['point', ...made.map(({ role }) => role)],
        rows: auditRows,
      },
    ],
  );
}
