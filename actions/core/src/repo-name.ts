import { InputError } from './errors.js';

/** A repository name pacman accepts in a section header (and not a reserved one). */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RESERVED_REPO_NAMES = ['local', 'options'];

/** Checks a repository name; `input` names the input in the error. */
export function checkRepoName(name: string, input: string, line = name): void {
  if (RESERVED_REPO_NAMES.includes(name)) {
    throw new InputError(
      input,
      `"${line}": the repository name "${name}" is reserved by pacman; choose another name.`,
    );
  }
  if (!REPO_NAME.test(name)) {
    throw new InputError(
      input,
      `"${line}": "${name}" is not a repository name (letters, digits, ".", "_", "-").`,
    );
  }
}
