/**
 * A mistake the user can fix (bad input, missing tool, failing build): reported as one clear
 * message, without a stack trace. Anything else that is thrown is treated as a bug.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** A bad action input: the message always names the input and says what would be right. */
export class InputError extends UserError {
  override name = 'InputError';
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super(`Input "${input}": ${problem}`);
  }
}

/** The message of anything thrown, whatever its type (a thrown string must fail the step too). */
export function messageOf(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === 'string') return thrown;
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}
