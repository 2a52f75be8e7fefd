import { remoteCommand, shellQuote } from '../../actions/core/src/ssh-connection.js';

test.each([
  ['plain', "'plain'"],
  ["it's", "'it'\\''s'"],
  ['$(id) `id` ; |', "'$(id) `id` ; |'"],
  ['', "''"],
])('shellQuote(%j)', (argument, quoted) => {
  expect(shellQuote(argument)).toBe(quoted);
});

test('remoteCommand quotes every argument', () => {
  expect(remoteCommand(['sudo', 'systemctl', 'start', 'a b'])).toBe(
    "'sudo' 'systemctl' 'start' 'a b'",
  );
  expect(() => remoteCommand([])).toThrow();
});
