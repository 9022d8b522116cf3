// date, timestamp and timestamptz as microseconds since 1970-01-01 00:00 UTC (±Infinity for
// 'infinity'), so that all three compare as instants. The session time zone is taken as UTC: a
// timestamptz without an offset is UTC, and a timestamp (without time zone) compares with a
// timestamptz as if it were UTC. PostgreSQL ignores an offset in timestamp and date input, and
// prints a year before 1 as "<year> BC". Doubles hold microseconds exactly for ±285 years around
// 1970; further out, instants less than a few microseconds apart may compare equal.

import { fail, quote } from './errors.ts';
import type { TimeKind } from './values.ts';

const DAY = 86_400_000_000;
const INPUT =
  /^(\d{4,})-(\d{1,2})-(\d{1,2})(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d*))?)?)?\s*(?:([Zz]|UTC|GMT)|([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?)?(?:\s+(BC|AD))?$/i;

const TYPE_NAMES: Readonly<Record<TimeKind, string>> = {
  date: 'date',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
};

/** Parses PostgreSQL's ISO date/time text (what it prints, and ISO 8601 with T and Z). */
export function parseTime(text: string, kind: TimeKind): number {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-infinity') return -Infinity;
  if (lower === 'epoch') return 0;
  // No date/time text is this long; the bound also keeps the regular expression's backtracking small.
  const m = t.length <= 64 ? INPUT.exec(t) : null;
  if (!m) fail(`invalid input syntax for type ${TYPE_NAMES[kind]}: ${quote(text)}`);
  let year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const bc = m[13]?.toUpperCase() === 'BC';
  if (year === 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(bc ? 1 - year : year, month)) {
    fail(`date/time field value out of range: ${quote(text)}`);
  }
  if (bc) year = 1 - year;
  const days = daysFromCivil(year, month, day);
  if (kind === 'date') return days * DAY;
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  if (hour > 24 || minute > 59 || second > 60 || (hour === 24 && (minute > 0 || second > 0))) {
    fail(`date/time field value out of range: ${quote(text)}`);
  }
  // Beyond microseconds PostgreSQL rounds.
  const fraction = m[7] ? Math.round(Number(`0.${m[7]}`) * 1e6) : 0;
  let micros = days * DAY + ((hour * 60 + minute) * 60 + second) * 1e6 + fraction;
  if (kind === 'timestamptz' && m[9]) {
    const offset = (Number(m[10]) * 3600 + Number(m[11] ?? 0) * 60 + Number(m[12] ?? 0)) * 1e6;
    micros -= m[9] === '-' ? -offset : offset;
  }
  return micros;
}

/** A time value converted to another time kind: to date, the UTC day it falls on. */
export function convertTime(micros: number, to: TimeKind): number {
  return to === 'date' && Number.isFinite(micros) ? Math.floor(micros / DAY) * DAY : micros;
}

/** Rounds to `precision` fraction digits of a second, as timestamp(p) does. */
export function roundTime(micros: number, precision: number): number {
  if (!Number.isFinite(micros) || precision >= 6) return micros;
  const unit = 10 ** (6 - precision);
  return Math.round(micros / unit) * unit;
}

/** The value as PostgreSQL prints it with DateStyle ISO and TimeZone UTC. */
export function formatTime(micros: number, kind: TimeKind): string {
  if (micros === Infinity) return 'infinity';
  if (micros === -Infinity) return '-infinity';
  const days = Math.floor(micros / DAY);
  let rest = micros - days * DAY;
  const [year, month, day] = civilFromDays(days);
  const bc = year <= 0;
  let text = `${pad(bc ? 1 - year : year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  if (kind !== 'date') {
    const fraction = rest % 1e6;
    rest = (rest - fraction) / 1e6;
    text += ` ${pad(Math.floor(rest / 3600), 2)}:${pad(Math.floor(rest / 60) % 60, 2)}:${pad(rest % 60, 2)}`;
    if (fraction > 0) text += `.${pad(fraction, 6).replace(/0+$/, '')}`;
    if (kind === 'timestamptz') text += '+00';
  }
  return bc ? `${text} BC` : text;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// Proleptic Gregorian calendar day numbers (days since 1970-01-01), after Howard Hinnant's
// days_from_civil / civil_from_days; year 0 is 1 BC.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}
