/**
 * The logging interface the core depends on: a fixed message plus structured fields. The
 * Powertools logger used by the Lambda handlers satisfies it, and so does `consoleLogger`.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function line(level: string, message: string, fields?: Record<string, unknown>): string {
  return JSON.stringify({ level, message, timestamp: new Date().toISOString(), ...fields });
}

/** JSON lines on stdout and stderr, for local runs. */
export const consoleLogger: Logger = {
  debug: (message, fields) => {
    if (process.env.STRATUM_LOG_LEVEL === 'debug') console.debug(line('DEBUG', message, fields));
  },
  info: (message, fields) => console.info(line('INFO', message, fields)),
  warn: (message, fields) => console.warn(line('WARN', message, fields)),
  error: (message, fields) => console.error(line('ERROR', message, fields)),
};

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
