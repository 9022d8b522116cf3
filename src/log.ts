// Leveled logger writing one line per event to stderr: readable text on a terminal, JSON otherwise.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'text' | 'json';
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// scheme://user:password@ — the password part is replaced wherever a URL appears.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s/@]*@/gi;
const SECRET_KEY = /pass(word)?|secret|token/i;

/** postgresql://app:secret@host/db → postgresql://app:***@host/db; text without credentials is unchanged. */
export function redactUrl(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@');
}

function redactFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY.test(k) && v !== undefined) out[k] = '***';
    else if (typeof v === 'string') out[k] = redactUrl(v);
    else if (v instanceof Error) out[k] = redactUrl(v.message);
    else out[k] = v;
  }
  return out;
}

function textLine(level: LogLevel, msg: string, fields: LogFields): string {
  const extras = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return [new Date().toISOString(), level.toUpperCase().padEnd(5), msg, ...extras].join(' ');
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? (process.stderr.isTTY ? 'text' : 'json');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const logger: Logger = {
    level: opts.level ?? 'info',
    log(level, msg, fields = {}) {
      if (RANK[level] < RANK[logger.level]) return;
      const safe = redactFields(fields);
      const text = redactUrl(msg);
      write(format === 'json' ? JSON.stringify({ time: new Date().toISOString(), level, msg: text, ...safe }) : textLine(level, text, safe));
    },
    debug: (msg, fields) => logger.log('debug', msg, fields),
    info: (msg, fields) => logger.log('info', msg, fields),
    warn: (msg, fields) => logger.log('warn', msg, fields),
    error: (msg, fields) => logger.log('error', msg, fields),
  };
  return logger;
}
