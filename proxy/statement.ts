// One statement as the hooks see it (QueryInfo), made for every statement a tracked session
// runs. A class with every field set in the constructor keeps one hidden class for all of them,
// and the per-query state map is made only when a plugin first touches it.
import type { QueryInfo, SessionInfo, StatementAnalysis } from '../plugins/contract.ts';

export class Statement implements QueryInfo {
  readonly kind: string;
  readonly subkind: string | undefined;
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  readonly fingerprint: string;
  readonly normalized: string;
  readonly error: string | undefined;
  startedAt = 0n;
  private stateMap: Map<string, unknown> | undefined = undefined;

  constructor(
    a: StatementAnalysis,
    readonly session: SessionInfo,
    readonly text: string,
    readonly tags: Readonly<Record<string, string>>,
    readonly protocol: 'simple' | 'extended',
    readonly phase: 'parse' | 'execute',
    readonly index: number,
    readonly statementName: string | undefined,
    readonly params: readonly (Buffer | null)[] | undefined,
    readonly paramFormats: readonly number[] | undefined,
  ) {
    this.kind = a.kind;
    this.subkind = a.subkind;
    this.reads = a.reads;
    this.writes = a.writes;
    this.fingerprint = a.fingerprint;
    this.normalized = a.normalized;
    this.error = a.error;
  }

  get state(): Map<string, unknown> {
    return (this.stateMap ??= new Map());
  }
}
