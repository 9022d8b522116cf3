// Column values of change events: the text pgoutput sends, turned into JSON-safe values.
// Text stays as PostgreSQL prints it (timestamps, numeric, uuids, arrays), so nothing is lost or
// shifted by a time zone; only types JSON represents exactly become JSON numbers or booleans.
import type { RowValue } from './event.ts';

// pg_type OIDs of the built-in types converted here.
const BOOL = 16;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const OID = 26;
const JSON_OID = 114;
const FLOAT4 = 700;
const FLOAT8 = 701;
const JSONB = 3802;

export type ValueParser = (text: string) => RowValue;

const asText: ValueParser = (t) => t;
const asBool: ValueParser = (t) => t === 't';
const asInt: ValueParser = (t) => Number(t);
// int8 beyond 2^53 would lose digits as a JSON number.
const asInt8: ValueParser = (t) => {
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : t;
};
// NaN and ±Infinity have no JSON number.
const asFloat: ValueParser = (t) => {
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
};
const asJson: ValueParser = (t) => {
  try {
    return JSON.parse(t) as RowValue;
  } catch {
    return t;
  }
};

export function valueParser(typeOid: number): ValueParser {
  switch (typeOid) {
    case BOOL: return asBool;
    case INT2:
    case INT4:
    case OID: return asInt;
    case INT8: return asInt8;
    case FLOAT4:
    case FLOAT8: return asFloat;
    case JSON_OID:
    case JSONB: return asJson;
    default: return asText;
  }
}
