// Service discovery for Prometheus where no cluster gives one: with `metrics.targetsFile`, the
// server writes the app's running instances into a file_sd file (Prometheus' file-based discovery),
// each labelled with app, revision and instance, so that a Prometheus whose scrape config reads
// the file scrapes every revision's instances as they come and go. Written whole and renamed into
// place (Prometheus never reads half a file), and only when the set changed.
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.ts';
import type { Instance } from '../runtime.ts';

/** How often the instances are listed, ms. */
export const TARGETS_INTERVAL_MS = 1000;

/** The file_sd document for `instances` of `app`: the running ones, in a stable order. */
export function scrapeTargets(app: string, instances: readonly Instance[]): string {
  const groups = instances
    .filter((i) => i.app === app && i.phase === 'Running')
    .sort((a, b) => a.revision - b.revision || a.index - b.index)
    .map((i) => ({
      targets: [`${i.address.host.includes(':') ? `[${i.address.host}]` : i.address.host}:${i.address.port}`],
      labels: { app, revision: String(i.revision), instance: i.id },
    }));
  return `${JSON.stringify(groups, null, 2)}\n`;
}

export class ScrapeTargetsWriter {
  readonly #file: string;
  readonly #app: string;
  readonly #list: () => Promise<Instance[]>;
  readonly #log: Logger;
  #written: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(options: { file: string; app: string; list: () => Promise<Instance[]>; log: Logger }) {
    this.#file = options.file;
    this.#app = options.app;
    this.#list = options.list;
    this.#log = options.log;
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      void this.write().finally(() => {
        if (this.#timer) this.#timer = setTimeout(tick, TARGETS_INTERVAL_MS).unref();
      });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Lists the instances and rewrites the file if they changed; a failure is logged once, then retried. */
  async write(): Promise<void> {
    try {
      const text = scrapeTargets(this.#app, await this.#list());
      if (text === this.#written) return;
      await writeFile(`${this.#file}.tmp`, text, { mode: 0o644 });
      await rename(`${this.#file}.tmp`, this.#file);
      this.#written = text;
      if (this.#failing) this.#log.info({ app: this.#app, file: this.#file }, 'scrape targets written again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing)
        this.#log.warn(
          { app: this.#app, file: this.#file, err: (err as Error).message },
          'cannot write the scrape targets for Prometheus (metrics.targetsFile); retrying each second',
        );
      this.#failing = true;
    }
  }
}
