// One real execution of a statement shape (QueryCostEntry.sample), read for the advisor: its
// parse tree's shape, the values it was run with, and the EXPLAIN request that replans it with
// those values. Samples hold real statement values: what is read here stays in the sidecar;
// the advice carries the normalized text and conclusions only.
import { textParams, type ExplainRequest } from '../explain.ts';
import type { StatementSample } from '../query-costs.ts';
import { preparedShape, statementShape, type StatementShape, type ValueRef } from './statement-shape.ts';

export interface SampledStatement {
  shape: StatementShape;
  /** Text values of $1..$n; null when the execution sent binary parameters. */
  params: (string | null)[] | null;
  explain: ExplainRequest;
}

export function readSample(database: string, sample: StatementSample): SampledStatement | undefined {
  const explain: ExplainRequest = { database, text: sample.text, params: sample.params, paramFormats: sample.paramFormats, prepare: sample.prepare };
  if (sample.prepare !== undefined) {
    const p = preparedShape(sample.prepare, sample.text);
    return p && { shape: p.shape, params: p.params, explain };
  }
  const shape = statementShape(sample.text);
  return shape && { shape, params: textParams(explain), explain };
}

/** The value as text, null for SQL NULL, undefined when the sample does not tell (binary, expression). */
export function valueOf(v: ValueRef | undefined, params: readonly (string | null)[] | null): string | null | undefined {
  if (!v) return undefined;
  if (v.kind === 'const') return v.value;
  if (v.kind === 'param') return params ? params[v.n - 1] : undefined;
  return undefined;
}
