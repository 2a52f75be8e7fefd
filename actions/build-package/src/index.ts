import { runActionWithPost } from '../../core/src/post.js';
import { run } from './main.js';
import { post } from './post.js';

runActionWithPost(run, post);
