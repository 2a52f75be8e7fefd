import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { projectRoot } from '../../scripts/lib/project-root.js';

/**
 * The SBOMs checked by readers that did not write them: the published SPDX 2.3 JSON schema (kept
 * in test/fixtures/sbom, see its README) and the CycloneDX 1.6 schema that
 * @cyclonedx/cyclonedx-library ships, each compiled by ajv.
 */

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => `${error.instancePath || '/'}: ${error.message ?? ''}`);
}

// Neither schema set is compiled with format checks (ajv-formats is not installed): types,
// required fields, patterns and enums are checked.
function newAjv(): Ajv {
  return new Ajv({ allErrors: true, strict: false, validateFormats: false });
}

let spdx: ValidateFunction | undefined;
let cyclonedx: ValidateFunction | undefined;

export function spdxSchemaErrors(document: unknown): string[] {
  spdx ??= newAjv().compile(
    readJson(path.join(projectRoot, 'test/fixtures/sbom/spdx-2.3-schema.json')),
  );
  return spdx(document) ? [] : describe(spdx.errors);
}

/** Where the library keeps its schemas (`res/schema`). */
export function cyclonedxSchemaDir(): string {
  const require = createRequire(path.join(projectRoot, 'package.json'));
  const manifest = require.resolve('@cyclonedx/cyclonedx-library/package.json');
  return path.join(path.dirname(manifest), 'res/schema');
}

export function cyclonedxSchemaErrors(document: unknown): string[] {
  if (!cyclonedx) {
    const dir = cyclonedxSchemaDir();
    const ajv = newAjv();
    // bom-1.6 refers to its neighbours by their file names; each file's own $id names the
    // published URL without ".SNAPSHOT", so each is registered under the name it is referred by.
    for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) {
      const schema = readJson(path.join(dir, name));
      ajv.addSchema({ ...schema, $id: `http://cyclonedx.org/schema/${name}` });
    }
    cyclonedx = ajv.compile(readJson(path.join(dir, 'bom-1.6.SNAPSHOT.schema.json')));
  }
  return cyclonedx(document) ? [] : describe(cyclonedx.errors);
}

/** The SPDX license identifiers the CycloneDX schema accepts as `license.id`. */
export function spdxLicenseIdsOfCyclonedx(): Set<string> {
  const schema = readJson(path.join(cyclonedxSchemaDir(), 'spdx.SNAPSHOT.schema.json'));
  return new Set(schema.enum as string[]);
}
