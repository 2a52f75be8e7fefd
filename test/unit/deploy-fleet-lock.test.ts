import { parseInputs } from '../../actions/deploy-fleet/src/inputs.js';
import { holderText, lockKey, thisRun } from '../../actions/deploy-fleet/src/lock.js';
import { recordKey, recordText } from '../../actions/deploy-fleet/src/record.js';
import { actionInputs } from '../helpers/action-inputs.js';

const base = {
  host: 'master:2222',
  'ssh-key': 'KEY-TEXT',
  'known-hosts': '[master]:2222 ssh-ed25519 AAAA',
  image: 'r:5000/team/hello:1.0',
};

test('etcd-endpoint: make-iso’s loopback client port by default; a bad value names the input', () => {
  expect(parseInputs(actionInputs('deploy-fleet', base)).etcdEndpoint).toEqual({
    host: '127.0.0.1',
    port: 12379,
  });
  expect(
    parseInputs(actionInputs('deploy-fleet', { ...base, 'etcd-endpoint': '10.0.0.1' }))
      .etcdEndpoint,
  ).toEqual({ host: '10.0.0.1', port: 2379 });
  expect(() =>
    parseInputs(actionInputs('deploy-fleet', { ...base, 'etcd-endpoint': 'etcd;rm -rf /:1' })),
  ).toThrow(/etcd-endpoint/);
  expect(() =>
    parseInputs(actionInputs('deploy-fleet', { ...base, 'force-unlock': 'yes please' })),
  ).toThrow(/force-unlock/);
});

test('the run: the workflow run and its URL on a runner, user@host and pid elsewhere', () => {
  expect(
    thisRun({
      GITHUB_ACTOR: 'alice',
      GITHUB_REPOSITORY: 'org/app',
      GITHUB_SERVER_URL: 'https://github.example',
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '2',
    }),
  ).toEqual({
    owner: 'alice (org/app)',
    run: 'run 42 attempt 2',
    runUrl: 'https://github.example/org/app/actions/runs/42',
  });
  const local = thisRun({});
  expect(local.owner).toMatch(/.+@.+/);
  expect(local.run).toBe(`pid ${process.pid}`);
  expect(local.runUrl).toBeUndefined();
});

test('the holder as one phrase, also for a value deploy-fleet did not write', () => {
  const value = JSON.stringify({
    owner: 'alice (org/app)',
    run: 'run 42',
    runUrl: 'https://github.example/org/app/actions/runs/42',
    image: 'r/hello:1',
    since: '2026-01-01T00:00:00Z',
  });
  expect(holderText({ key: 'k', value, ttl: 12, modifiedIndex: 1, createdIndex: 1 })).toBe(
    'alice (org/app), run 42 https://github.example/org/app/actions/runs/42, deploying r/hello:1, since 2026-01-01T00:00:00Z, expires in 12 s unless renewed',
  );
  expect(holderText({ key: 'k', value: 'by hand', modifiedIndex: 1, createdIndex: 1 })).toBe(
    '"by hand" (not written by deploy-fleet)',
  );
});

test('one key per unit, and a record read back as one line', () => {
  expect(lockKey('hello.service')).toBe('/arch-core/deploy-fleet/locks/hello.service');
  expect(recordKey('hello.service')).toBe('/arch-core/deploy-fleet/records/hello.service');
  expect(recordText(undefined)).toContain('no deploy record');
  expect(
    recordText({
      unit: 'hello.service',
      image: 'r/hello:1',
      version: '1',
      hash: 'abcdef0123',
      machines: 3,
      deployedAt: '2026-01-01T00:00:00Z',
      owner: 'bob@box',
      run: 'pid 7',
    }),
  ).toBe(
    'r/hello:1 (version 1, no digest in the reference, unit hash abcdef0), 3 machine(s), deployed 2026-01-01T00:00:00Z by bob@box, pid 7',
  );
});
