import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The ESM bundles have no `__dirname`/`__filename`, but ssh2's bundled emscripten module
 * (poly1305) reads `__dirname` when it loads. ssh-connect.ts imports this before ssh2; an action's
 * index.ts may import it first too.
 */
const globals = globalThis as Record<string, unknown>;
globals.__dirname ??= path.dirname(fileURLToPath(import.meta.url));
globals.__filename ??= fileURLToPath(import.meta.url);
