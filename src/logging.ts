/**
 * Logging: pino. JSON lines on stderr by default, pretty when stderr is a terminal (pino-pretty),
 * or the caller's own pino logger, or none.
 */
import { pino, type Logger } from 'pino';

/** What the `logger` option accepts. */
export type LoggerOption = false | { readonly level: string } | Logger;

/** The level when none is given: `LEASEHOLD_LOG_LEVEL`, else `info`. */
export function defaultLogLevel(): string {
  return process.env.LEASEHOLD_LOG_LEVEL ?? 'info';
}

/** Resolves the `logger` option into a logger. */
export function createLogger(option: LoggerOption | undefined, name: string): Logger {
  if (option === false) return pino({ level: 'silent' });
  if (option !== undefined && 'child' in option) return option.child({ component: name });
  const level = option?.level ?? defaultLogLevel();
  if (process.stderr.isTTY) {
    return pino({ level, name, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ level, name }, pino.destination({ dest: 2, sync: false }));
}
