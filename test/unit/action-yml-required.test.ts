import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../../actions/core/src/errors.js';
import type { RawInputs } from '../../actions/core/src/inputs.js';
import { parseInputs as buildPackage } from '../../actions/build-package/src/inputs.js';
import { parseInputs as deployFleet } from '../../actions/deploy-fleet/src/inputs.js';
import { parseInputs as importImage } from '../../actions/import-image/src/inputs.js';
import { parseInputs as makeChroot } from '../../actions/make-chroot/src/inputs.js';
import { parseInputs as makeIso } from '../../actions/make-iso/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { projectRoot } from '../helpers/bundle.js';
import { publicKeyLine } from '../helpers/make-iso-fixtures.js';

// `required:` in each action.yml against what its parseInputs refuses when blank: the runner
// (and the CLI's --help) take the flag from action.yml, the code decides.

interface Case {
  /** The smallest `with:` a step needs, over the action.yml defaults. */
  given: Record<string, string>;
  /** Inputs of which one must be given: none of them is `required: true`. */
  eitherOf?: string[];
  parse: (raw: RawInputs) => unknown;
}

const cases: Record<string, Case> = {
  'build-package': { given: {}, parse: buildPackage },
  'make-chroot': {
    given: { packages: 'hello' },
    eitherOf: ['packages', 'package-files'],
    parse: makeChroot,
  },
  'import-image': {
    given: { root: os.tmpdir(), image: '127.0.0.1:5000/team/app' },
    eitherOf: ['root', 'tarball'],
    parse: importImage,
  },
  'make-iso': {
    given: {
      'ssh-authorized-keys': publicKeyLine('ssh-ed25519'),
      'master-address': '10.0.0.1',
      'fleet-sha256': 'a'.repeat(64),
    },
    parse: makeIso,
  },
  'deploy-fleet': {
    given: {
      host: 'master:2222',
      'ssh-key': 'KEY-TEXT',
      'known-hosts': '[master]:2222 ssh-ed25519 AAAA',
      image: 'r:5000/team/hello:1.0',
    },
    parse: deployFleet,
  },
};

/** The input a parse refuses, or undefined when it accepts the inputs. */
async function refusedInput(parse: Case['parse'], raw: RawInputs): Promise<string | undefined> {
  try {
    await parse(raw);
    return undefined;
  } catch (error) {
    if (error instanceof InputError) return error.input;
    throw error;
  }
}

describe.each(Object.entries(cases))('%s action.yml', (action, { given, eitherOf = [], parse }) => {
  const metadata = parseYaml(
    fs.readFileSync(path.join(projectRoot, 'actions', action, 'action.yml'), 'utf8'),
  ) as { inputs: Record<string, { required?: boolean; default?: unknown }> };

  test('its smallest step is accepted', async () => {
    expect(await refusedInput(parse, actionInputs(action, given))).toBeUndefined();
  });

  test('marks required exactly the inputs without a default that the code needs', async () => {
    const marked: string[] = [];
    const needed: string[] = [];
    for (const [name, spec] of Object.entries(metadata.inputs)) {
      if (eitherOf.includes(name)) continue;
      if (spec.required === true) marked.push(name);
      const blank = { ...actionInputs(action, given), [name]: '' };
      // An empty default gives the code nothing: the input must be given.
      const hasDefault = spec.default !== undefined && spec.default !== '';
      if (!hasDefault && (await refusedInput(parse, blank)) === name) {
        needed.push(name);
      }
    }
    expect(marked).toEqual(needed);
  });

  if (eitherOf.length > 0) {
    test(`needs one of ${eitherOf.join(', ')}, so marks none of them required`, async () => {
      const none = Object.fromEntries(eitherOf.map((name) => [name, '']));
      const refused = await refusedInput(parse, { ...actionInputs(action, given), ...none });
      expect(eitherOf).toContain(refused);
      for (const name of eitherOf) expect(metadata.inputs[name]?.required).not.toBe(true);
    });
  }
});
