import '../../core/src/esm-globals.js';
import { runAction } from '../../core/src/run.js';
import { run } from './main.js';

void runAction(run);
