// The built-in web dashboard's files (plain HTML, CSS and ES modules beside this file), read once
// and served by the HTTP endpoint at "/" with their content types, an ETag, cache-control
// no-cache (the browser revalidates, so a new HeliosDB version is picked up at once) and a
// Content-Security-Policy that allows nothing but this origin: no inline script or style, no
// third-party anything.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface StaticAsset {
  readonly body: Buffer;
  /** Content-Type header value. */
  readonly type: string;
  /** Extra response headers (cache, security). */
  readonly headers: Readonly<Record<string, string>>;
}

export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FILES: ReadonlyArray<readonly [path: string, file: string, type: string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/charts.js', 'charts.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/dom.js', 'dom.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/style.css', 'style.css', 'text/css; charset=utf-8'],
  ['/dashboard/favicon.svg', 'favicon.svg', 'image/svg+xml'],
];

let cached: Record<string, StaticAsset> | undefined;

/** The dashboard's routes by path, read from disk on first call and kept. */
export function dashboardAssets(): Record<string, StaticAsset> {
  if (cached) return cached;
  const assets: Record<string, StaticAsset> = {};
  for (const [path, file, type] of FILES) {
    const body = readFileSync(new URL(file, import.meta.url));
    assets[path] = {
      body,
      type,
      headers: {
        'cache-control': 'no-cache',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        'content-security-policy': DASHBOARD_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      },
    };
  }
  assets['/dashboard'] = assets['/dashboard/'] = assets['/index.html'] = assets['/']!;
  cached = assets;
  return assets;
}
