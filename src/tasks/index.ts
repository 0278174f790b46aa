// Owns: the list of built-in tasks the server registers by default.
// Not here: the tasks themselves (one file each) or loading user tasks (cli/).

import type { TaskDefinition } from '../runtime/task.ts';
import report from './report.ts';

export const builtInTasks: readonly TaskDefinition[] = [report];
