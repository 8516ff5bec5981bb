import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder holding plugin.json, found from this file whether it runs from src/ or dist/src/. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'plugin.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`plugin.json not found above ${from}`);
  }
}
