import { hasPort, hostPortInput } from '../../actions/core/src/host-port.js';

test.each([
  ['master', { host: 'master', port: 22 }],
  ['master.example.org:2222', { host: 'master.example.org', port: 2222 }],
  ['10.0.0.1:22', { host: '10.0.0.1', port: 22 }],
  ['[fd00::1]:2222', { host: 'fd00::1', port: 2222 }],
  ['[fd00::1]', { host: 'fd00::1', port: 22 }],
])('hostPortInput(%j)', (text, expected) => {
  expect(hostPortInput('host', text, 22)).toEqual(expected);
});

test.each([
  '',
  'a:b',
  'h:0',
  'h:65536',
  'h:1:2',
  'user@h',
  '-h',
  'h..x',
  'a-.b',
  'master;touch x',
  'fd00::1',
])('hostPortInput(%j) is refused naming the input', (text) => {
  expect(() => hostPortInput('host', text, 22)).toThrow(/^Input "host": /);
});

test.each([
  ['host', false],
  ['host:5000', true],
  ['[fd00::1]', false],
  ['[fd00::1]:5000', true],
])('hasPort(%j) is %j', (text, expected) => {
  expect(hasPort(text)).toBe(expected);
});
