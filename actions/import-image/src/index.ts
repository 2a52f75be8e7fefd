import { availableParallelism } from 'node:os';
import '../../core/src/esm-globals.js';
import { runActionWithPost } from '../../core/src/post.js';
import { run } from './main.js';
import { post } from './post.js';

// zlib's async calls run on libuv's pool, 4 threads unless told: the layer's members compress
// one more than the cores at once (oci.ts), and the upload's file reads need one besides. Set
// before anything uses the pool, which starts on first use.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));

runActionWithPost(run, post);
