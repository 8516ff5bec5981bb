import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostLog } from '../host-api';
import { EMPTY_SET, loadTemplateDir, type TemplateSet } from './template-set';

/** How long changes are gathered before a reload, in milliseconds (an editor's save is several events). */
const RELOAD_DEBOUNCE_MS = 50;
/** How often a directory that does not exist yet is looked for again, in milliseconds (on use, no timer). */
const MISSING_RECHECK_MS = 5_000;

/**
 * A tenant's templates directory, loaded into memory and watched: a change to any template
 * applies to the next message without a restart. Watches the folder and its subfolders
 * (non-recursive watchers, re-synced on each reload), so atomic saves by rename are seen.
 */
export class TemplateDirectory {
  readonly dir: string;
  readonly #log: HostLog;
  readonly #watchers = new Map<string, fs.FSWatcher>();
  #set: TemplateSet = EMPTY_SET;
  #timer: NodeJS.Timeout | undefined;
  #missingSince: number | undefined;
  #disposed = false;
  /** Bumped on every reload; tests and tools wait on it. */
  generation = 0;

  constructor(dir: string, log: HostLog) {
    this.dir = dir;
    this.#log = log;
    this.#reload();
  }

  /** Open file system watchers (the folder and its subfolders). */
  get watchers(): number {
    return this.#watchers.size;
  }

  /** The templates as last loaded. */
  get(): TemplateSet {
    if (this.#missingSince !== undefined && Date.now() - this.#missingSince > MISSING_RECHECK_MS) this.#reload();
    return this.#set;
  }

  #schedule(): void {
    if (this.#disposed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#reload(), RELOAD_DEBOUNCE_MS);
  }

  #reload(): void {
    if (this.#disposed) return;
    this.#timer = undefined;
    if (!fs.existsSync(this.dir)) {
      if (this.#missingSince === undefined) this.#log.warn('tenant templates directory does not exist; defaults apply until it does', { dir: this.dir });
      this.#missingSince = Date.now();
      this.#set = EMPTY_SET;
      this.#sync([]);
      return;
    }
    this.#missingSince = undefined;
    this.#set = loadTemplateDir(this.dir);
    this.generation++;
    for (const p of this.#set.problems) this.#log.warn('tenant template file skipped', { dir: this.dir, file: p.origin, error: p.message });
    const dirs = [this.dir];
    for (const sub of safeSubdirs(this.dir)) dirs.push(path.join(this.dir, sub));
    this.#sync(dirs);
    if (this.generation > 1) this.#log.info('tenant templates reloaded', { dir: this.dir, templates: this.#set.parts.size, partials: this.#set.partials.size });
  }

  #sync(dirs: string[]): void {
    for (const [d, w] of this.#watchers) {
      if (!dirs.includes(d)) {
        w.close();
        this.#watchers.delete(d);
      }
    }
    for (const d of dirs) {
      if (this.#watchers.has(d)) continue;
      try {
        const w = fs.watch(d, { persistent: true }, () => this.#schedule());
        w.on('error', () => {
          w.close();
          this.#watchers.delete(d);
          this.#schedule();
        });
        this.#watchers.set(d, w);
      } catch (e) {
        this.#log.warn('cannot watch tenant templates directory; changes need a config change or restart', { dir: d, error: (e as Error).message });
      }
    }
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}

function safeSubdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
}
