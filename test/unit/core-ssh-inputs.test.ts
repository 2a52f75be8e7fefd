import { describe, expect, test } from '@jest/globals';
import { inputReader } from '../../actions/core/src/inputs.js';
import { readSshInputs } from '../../actions/core/src/ssh-inputs.js';

describe('readSshInputs', () => {
  const base = {
    host: 'master:2222',
    'ssh-user': 'core',
    'ssh-key': 'KEY-TEXT',
    'known-hosts': 'kh',
  };
  test('host[:port], user, key and known hosts', () => {
    expect(readSshInputs(inputReader(base), { host: 'host' })).toEqual({
      host: 'master',
      port: 2222,
      user: 'core',
      privateKey: 'KEY-TEXT',
      knownHosts: 'kh',
      strictHostKeyChecking: true,
    });
  });
  test('a deprecated port input is still read, and refused beside a port in the host', () => {
    const raw = { ...base, host: 'master', 'ssh-port': '2200' };
    expect(readSshInputs(inputReader(raw), { host: 'host', deprecatedPort: 'ssh-port' }).port).toBe(
      2200,
    );
    expect(() =>
      readSshInputs(inputReader({ ...raw, host: 'master:22' }), {
        host: 'host',
        deprecatedPort: 'ssh-port',
      }),
    ).toThrow(/^Input "ssh-port": /);
  });
  test.each([
    [{ host: 'master;touch x' }, /^Input "host": "master;touch x" is not host\[:port\]/],
    [{ 'ssh-user': 'root; rm' }, /^Input "ssh-user": "root; rm" is not a user name/],
    [{ 'ssh-key': '' }, /^Input "ssh-key": is required with ssh-tunnel: /],
    [{ 'known-hosts': '' }, /^Input "known-hosts": is required with ssh-tunnel: /],
  ])('%j is refused naming the input', (change, message) => {
    expect(() =>
      readSshInputs(inputReader({ ...base, ...change }), {
        host: 'host',
        requiredWhen: 'with ssh-tunnel',
      }),
    ).toThrow(message);
  });
});
