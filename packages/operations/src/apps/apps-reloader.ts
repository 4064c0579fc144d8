import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AppRegistry, loadAppsFile, type LiveApps } from '@signal/core';
import type { Logger } from 'pino';
import type { Shutdown } from '../shutdown/shutdown.js';

/** `ok`: the new file is in use; `refused`: it was invalid (or unreadable) and the previous one is kept. */
export type ReloadResult = 'ok' | 'refused';
export type ReloadTrigger = 'sighup' | 'file';

export interface AppsReloaderOptions {
  path: string;
  apps: LiveApps;
  /** Watch the file's directory for changes (APPS_FILE_WATCH); SIGHUP reloads either way. */
  watchFile: boolean;
  log: Logger;
  /** Counts one reload (the service's signal_*_apps_reloads_total). */
  count: (result: ReloadResult) => void;
  /**
   * Runs once a new registry is in place, e.g. to close connections whose key was removed; what
   * it returns is added to the `apps file reloaded` line. Its failures are logged, never thrown.
   */
  onReload?: (previous: AppRegistry, next: AppRegistry) => Record<string, unknown> | void;
  /** Quiet time after the last change event before the file is read; editors write a file in several steps. */
  debounceMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 200;

/**
 * Reloads the apps file without a restart (docs/operations.md#reloading-the-apps-file), on
 * SIGHUP and, with `watchFile`, when the file changes. The new file is read, validated and
 * turned into a registry completely before it replaces the old one in `LiveApps`, so a bad file
 * changes nothing: it is refused with a logged error naming the problem, counted, and the
 * previous file stays in force. Nothing thrown here escapes into the signal handler, the
 * watcher or the timer.
 *
 * The directory is watched rather than the file: editors and `kubectl` replace a file by
 * writing another and renaming it over the old one (a Kubernetes ConfigMap swaps a `..data`
 * symlink), after which a watch on the old inode would never fire again.
 */
export class AppsReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onSignal = () => this.reload('sighup');

  constructor(private readonly options: AppsReloaderOptions) {}

  start(): void {
    process.on('SIGHUP', this.onSignal);
    if (this.options.watchFile) this.watchDirectory();
  }

  stop(): void {
    process.off('SIGHUP', this.onSignal);
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads, validates and installs the file; never throws. */
  reload(trigger: ReloadTrigger): ReloadResult {
    const { path, apps, log, count } = this.options;
    let next: AppRegistry;
    try {
      next = new AppRegistry(loadAppsFile(path));
    } catch (error) {
      count('refused');
      log.error({ path, trigger, error: (error as Error).message }, 'apps file refused; the previous one stays in force');
      return 'refused';
    }
    const previous = apps.replace(next);
    count('ok');
    let applied: Record<string, unknown> | void = undefined;
    try {
      applied = this.options.onReload?.(previous, next);
    } catch (error) {
      log.error({ path, error: (error as Error).stack ?? String(error) }, 'apps file reloaded, but applying it to open connections failed');
    }
    log.info({ path, trigger, ...applied }, 'apps file reloaded');
    return 'ok';
  }

  private watchDirectory(): void {
    const { path, log } = this.options;
    const name = basename(path);
    try {
      this.watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        // Kubernetes' atomic writer renames `..data`; some platforms give no file name at all.
        if (file === null || file === name || file.startsWith('..')) this.schedule();
      });
      this.watcher.on('error', (error) => {
        log.warn({ path, error: error.message }, 'watching the apps file failed; SIGHUP still reloads it');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      log.warn({ path, error: (error as Error).message }, 'cannot watch the apps file; SIGHUP still reloads it');
    }
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload('file');
    }, this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.timer.unref();
  }
}

/** Reloads a service's `APPS_FILE` from now on, until shutdown begins to stop intake. */
export function reloadAppsFile(
  config: { APPS_FILE: string; APPS_FILE_WATCH: boolean },
  shutdown: Shutdown,
  options: Omit<AppsReloaderOptions, 'path' | 'watchFile'>,
): AppsReloader {
  const reloader = new AppsReloader({ ...options, path: config.APPS_FILE, watchFile: config.APPS_FILE_WATCH });
  reloader.start();
  shutdown.add('stop-intake', 'apps file reloads', () => reloader.stop());
  return reloader;
}
