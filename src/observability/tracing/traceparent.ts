// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
// version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex. Parsed by hand because
// @opentelemetry/core's parser tolerates surrounding whitespace, which the header grammar does not.

/** The parts of a valid traceparent that continue a trace. */
export interface TraceParent {
  readonly version: number;
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** The caller's span id: 16 lowercase hex characters, not all zero. */
  readonly spanId: string;
  /** Bit 0: sampled; bit 1 (level 2): random trace id. */
  readonly traceFlags: number;
}

/** Length of a version-00 traceparent; later versions may append "-" and more fields. */
const V00_LENGTH = 55;

/** The flags version 00 defines (sampled, random); a later version's other bits are not ours to interpret. */
const KNOWN_FLAGS = 0x03;

const DASH = 45;

/** The traceparent's fields, or undefined when it is not valid and the trace must restart. */
export function parseTraceparent(value: string): TraceParent | undefined {
  if (value.length < V00_LENGTH) return undefined;
  if (value.charCodeAt(2) !== DASH || value.charCodeAt(35) !== DASH || value.charCodeAt(52) !== DASH) return undefined;
  const version = hexByte(value, 0);
  // ff is forbidden as a version.
  if (version < 0 || version === 0xff) return undefined;
  if (version === 0) {
    if (value.length !== V00_LENGTH) return undefined;
  } else if (value.length > V00_LENGTH && value.charCodeAt(V00_LENGTH) !== DASH) {
    // A later version may only extend the header after a dash.
    return undefined;
  }
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (!isLowerHex(traceId) || !isLowerHex(spanId) || isZero(traceId) || isZero(spanId)) return undefined;
  const flags = hexByte(value, 53);
  if (flags < 0) return undefined;
  return { version, traceId, spanId, traceFlags: version === 0 ? flags : flags & KNOWN_FLAGS };
}

/** The two lowercase hex digits at `at` as a number, or -1. */
function hexByte(s: string, at: number): number {
  const hi = hexDigit(s.charCodeAt(at));
  const lo = hexDigit(s.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/** Uppercase is not in the grammar (HEXDIGLC), so it is rejected rather than folded. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isLowerHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (hexDigit(s.charCodeAt(i)) < 0) return false;
  return true;
}

function isZero(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}
