// Query-string parameters of API routes; a bad one is a 400 naming it.
import { ApiError } from './routes.ts';

export function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ApiError(400, `query parameter "${name}" must be an integer from ${min} to ${max}`);
  return n;
}

export function enumParam<T extends string>(url: URL, name: string, allowed: readonly T[], def: T): T {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return def;
  if (!(allowed as readonly string[]).includes(raw)) throw new ApiError(400, `query parameter "${name}" must be one of ${allowed.join(', ')}`);
  return raw as T;
}
