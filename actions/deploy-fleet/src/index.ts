import '../../core/src/esm-globals.js';
import { runActionWithPost } from '../../core/src/post.js';
import { run } from './main.js';
import { post } from './post.js';

runActionWithPost(run, post);
