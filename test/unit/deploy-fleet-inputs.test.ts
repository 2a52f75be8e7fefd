import { parseImageReference } from '../../actions/core/src/image-ref.js';
import { apiPath, checkDesiredState, unitBody } from '../../actions/deploy-fleet/src/fleet.js';
import {
  imageVersion,
  parseInputs,
  planUnit,
  resolveUnitName,
} from '../../actions/deploy-fleet/src/inputs.js';
import { systemctlArgv } from '../../actions/deploy-fleet/src/services.js';
import { fdForwardArgv } from '../../actions/deploy-fleet/src/tunnel.js';
import { DEFAULT_UNIT_TEMPLATE } from '../../actions/deploy-fleet/src/unit.js';
import { actionInputs } from '../helpers/action-inputs.js';

const base = {
  host: 'master:2222',
  'ssh-key': 'KEY-TEXT',
  'known-hosts': '[master]:2222 ssh-ed25519 AAAA',
  image: 'r:5000/team/hello:1.0',
};

/** deploy-fleet's inputs for a step's `with:`, over the action.yml defaults. */
function parse(given: Record<string, string>) {
  return parseInputs(actionInputs('deploy-fleet', { ...base, ...given }));
}

const DEFAULT_UPDATE_SERVICES = parse({}).updateServices;

test.each([
  ['r:5000/team/hello:1.2.r14.abc-1', 'hello.service', '1.2.r14.abc-1'],
  [`r:5000/hello@sha256:${'b'.repeat(64)}`, 'hello.service', `sha256:${'b'.repeat(64)}`],
  ['hello', 'hello.service', 'latest'],
])('image %s: unit %s, version %s', (text, unit, version) => {
  const inputs = parse({ image: text });
  expect(inputs.unitName).toBe(unit);
  expect(imageVersion(inputs.image)).toBe(version);
});

test('a given unit name wins and is checked', () => {
  const image = parseImageReference('r:5000/hello:1');
  expect(resolveUnitName('web.service', image)).toBe('web.service');
  expect(() => resolveUnitName('web', image)).toThrow(/^Input "unit-name": "web" does not end/);
  expect(() => parse({ image: 'Hello' })).toThrow(
    /^Input "image": reference "Hello": repository "Hello" is not valid/,
  );
});

test.each([
  [undefined, DEFAULT_UPDATE_SERVICES],
  ['', []],
  ['# none\n\n', []],
  ['a.service\nb.socket\n', ['a.service', 'b.socket']],
])('update-services %j', (text, expected) => {
  const given: Record<string, string> = text === undefined ? {} : { 'update-services': text };
  expect(parse(given).updateServices).toEqual(expected);
});

test('update-services defaults to the etcd and registry units of the master, etcd first', () => {
  expect(DEFAULT_UPDATE_SERVICES).toEqual(['arch-core-etcd.service', 'arch-core-registry.service']);
  expect(() => parse({ 'update-services': 'etcd' })).toThrow(
    /^Input "update-services": "etcd" does not end in a unit type/,
  );
});

test.each([
  ['/var/run/fleet.sock', '/var/run/fleet.sock'],
  ['unix:///var/run/fleet.sock', '/var/run/fleet.sock'],
])('fleet-endpoint %s', (text, expected) => {
  expect(parse({ 'fleet-endpoint': text }).fleetEndpoint).toBe(expected);
});

test.each(['fleet.sock', 'http://h:1', '/a b'])('fleet-endpoint %j is refused', (text) => {
  expect(() => parse({ 'fleet-endpoint': text })).toThrow(/^Input "fleet-endpoint"/);
});

test('machine-metadata values may not hold spaces, quotes or "="', () => {
  expect(parse({ 'machine-metadata': 'role=worker' }).machineMetadata).toEqual([
    ['role', 'worker'],
  ]);
  expect(() => parse({ 'machine-metadata': 'role=a=b' })).toThrow(
    /^Input "machine-metadata": "role=a=b"/,
  );
  expect(() => parse({ 'machine-metadata': 'role="x"' })).toThrow(/^Input "machine-metadata"/);
});

test('planUnit: rendered, parsed, metadata added, hashed', () => {
  const image = parseImageReference('r:5000/team/hello:1.0');
  const plain = planUnit(undefined, DEFAULT_UNIT_TEMPLATE, {
    image,
    unitName: 'hello.service',
    machineMetadata: [],
  });
  const restricted = planUnit(undefined, DEFAULT_UNIT_TEMPLATE, {
    image,
    unitName: 'hello.service',
    machineMetadata: [['role', 'worker']],
  });
  expect(plain.text).toContain(
    'ExecStart=/usr/bin/docker run --rm --name hello.service r:5000/team/hello:1.0',
  );
  expect(plain.hash).toMatch(/^[0-9a-f]{40}$/);
  expect(restricted.options.at(-1)).toEqual({
    section: 'X-Fleet',
    name: 'MachineMetadata',
    value: 'role=worker',
  });
  expect(restricted.hash).not.toBe(plain.hash);
  expect(() =>
    planUnit('t.service', '[Service]\nExecStart={{image}}\n', {
      image,
      unitName: 'x.service',
      machineMetadata: [],
    }),
  ).toThrow(/^Input "unit-template" \(t.service\): the unit is not global/);
});

test('argv for the host: never a shell string', () => {
  expect(systemctlArgv('start', 'arch-core-etcd.service')).toEqual([
    'sudo',
    'systemctl',
    'start',
    'arch-core-etcd.service',
  ]);
  expect(fdForwardArgv('/var/run/fleet.sock')).toEqual([
    'fleetctl',
    'fd-forward',
    '/var/run/fleet.sock',
  ]);
});

test('fleet requests: alt=json, page tokens, desiredState checked before sending', () => {
  expect(
    apiPath('/fleet/v1', '/state', { unitName: 'a b.service', nextPageToken: undefined }),
  ).toBe('/fleet/v1/state?alt=json&unitName=a+b.service');
  expect(apiPath('/fleet/v1', '/machines', { nextPageToken: 'abc=' })).toBe(
    '/fleet/v1/machines?alt=json&nextPageToken=abc%3D',
  );
  expect(unitBody('a.service', 'launched', [{ section: 'S', name: 'n', value: 'v' }])).toEqual({
    name: 'a.service',
    desiredState: 'launched',
    options: [{ section: 'S', name: 'n', value: 'v' }],
  });
  expect(unitBody('a.service', 'inactive')).toEqual({
    name: 'a.service',
    desiredState: 'inactive',
  });
  for (const state of ['inactive', 'loaded', 'launched'])
    expect(checkDesiredState(state)).toBe(state);
  expect(() => checkDesiredState('running')).toThrow(
    /desiredState "running" is not one of inactive, loaded, launched/,
  );
});
