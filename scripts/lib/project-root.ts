import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo's root folder, for the scripts and the tests. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
