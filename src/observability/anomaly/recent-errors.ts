// Errors of the last few seconds by SQLSTATE, the evidence for an error burst. Errors are
// rare next to statements, so a small map per second costs nothing on the success path.

export interface RecentError {
  sqlstate: string;
  count: number;
  /** The latest server message for that SQLSTATE, as the client saw it. */
  message: string;
}

export class RecentErrors {
  private current = new Map<string, RecentError>();
  private readonly past: Map<string, RecentError>[] = [];

  constructor(readonly seconds = 10) {}

  add(sqlstate: string, message: string | undefined): void {
    const e = this.current.get(sqlstate);
    if (e) {
      e.count++;
      if (message) e.message = message;
    } else this.current.set(sqlstate, { sqlstate, count: 1, message: message ?? '' });
  }

  /** Ends the current second. */
  rotate(): void {
    this.past.push(this.current);
    if (this.past.length > this.seconds) this.past.shift();
    this.current = new Map();
  }

  /** The most frequent SQLSTATEs over the window, most frequent first. */
  top(n: number): RecentError[] {
    const all = new Map<string, RecentError>();
    for (const m of [...this.past, this.current]) {
      for (const e of m.values()) {
        const a = all.get(e.sqlstate);
        if (a) {
          a.count += e.count;
          a.message = e.message || a.message;
        } else all.set(e.sqlstate, { ...e });
      }
    }
    return [...all.values()].sort((x, y) => y.count - x.count).slice(0, n);
  }
}
