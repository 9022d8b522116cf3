/**
 * A condition that cannot be compiled (or, from `evaluate`, a row it cannot be evaluated on).
 * The message is shown to the user verbatim: it says what is wrong and quotes the fragment, and
 * ends with "(at position N)", N counting characters of the condition from 1, when there is one.
 */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  /** 1-based character position in the condition of what is wrong, when known. */
  readonly position: number | undefined;

  constructor(message: string, position?: number) {
    super(position === undefined ? message : `${message} (at position ${position})`);
    this.position = position;
  }
}

/**
 * What PostgreSQL would raise an error for while evaluating the condition on one row (a string
 * that is not a number compared with a number, division by zero, invalid JSON...). Not an Error:
 * it is thrown on the per-row path and caught by `matches`, so it skips capturing a stack trace.
 */
export class EvaluationError {
  constructor(readonly message: string) {}
}

export function fail(message: string): never {
  throw new EvaluationError(message);
}

/** Quotes a value inside a message the way PostgreSQL's own messages do: "...". */
export function quote(text: string, max = 60): string {
  const short = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return `"${short}"`;
}
