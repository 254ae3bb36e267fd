/**
 * Parts with a lifecycle: a program is an ordered list of parts, each with start() and stop().
 * They start in order; if one fails, the ones already started are stopped again (in reverse)
 * before the error surfaces, so a failed start leaves nothing listening and no timer running.
 * Stopping goes in reverse order and stops every part even when one of them throws: a part
 * that cannot stop cleanly must not keep the database open or a port bound.
 */

export interface Part {
  /** Said in the log when it fails to start or stop ("broker", "http" …). */
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** The little of a logger this needs (pino's Logger fits). */
export interface PartLog {
  error(obj: object, msg: string): void;
}

export class Parts {
  private readonly started: Part[] = [];
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly parts: readonly Part[],
    private readonly log: PartLog,
  ) {
    const names = new Set<string>();
    for (const p of parts) {
      if (names.has(p.name)) throw new Error(`two parts are named ${p.name}`);
      names.add(p.name);
    }
  }

  /** The parts' names in start order (logs, tests). */
  get names(): string[] {
    return this.parts.map((p) => p.name);
  }

  /**
   * Starts every part in order. If one throws, the started ones are stopped in reverse and the
   * part's own error is rethrown (a ConfigError stays a ConfigError: one line, exit 2).
   */
  async start(): Promise<void> {
    if (this.started.length || this.stopping) throw new Error('parts can be started once');
    for (const p of this.parts) {
      try {
        await p.start();
      } catch (e) {
        // The failed part may have half-started (a server bound, a timer set): it is stopped
        // too, so each part's stop() must cope with a start that did not finish.
        this.started.push(p);
        await this.stop();
        throw e;
      }
      this.started.push(p);
    }
  }

  /** Stops the started parts in reverse order; a part that throws is logged with `{ err }` and the rest still stop. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      while (this.started.length) {
        const p = this.started.pop()!;
        try {
          await p.stop();
        } catch (e) {
          this.log.error({ err: e, part: p.name }, `${p.name} did not stop cleanly; stopping the other parts anyway`);
        }
      }
    })();
    return this.stopping;
  }
}
