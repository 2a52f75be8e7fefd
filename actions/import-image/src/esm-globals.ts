import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The ESM bundle has no `__dirname`, but ssh2's bundled emscripten module (poly1305) reads it
 * when it loads. Imported first by index.ts, before anything that loads ssh2.
 */
const globals = globalThis as Record<string, unknown>;
globals.__dirname ??= path.dirname(fileURLToPath(import.meta.url));
globals.__filename ??= fileURLToPath(import.meta.url);
