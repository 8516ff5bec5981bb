import type { ErrorCode } from './catalog';

/** One problem found by schema validation: where, and what was wrong. */
export interface Problem {
  /** JSON pointer of the offending value, e.g. `/data/recipient/email/0`. */
  path: string;
  message: string;
}

export interface PluginErrorOptions {
  /** JSON pointer of the offending field, when there is one. */
  field?: string;
  problems?: readonly Problem[];
  cause?: unknown;
}

/** The only error type the plugin throws or rejects with. `code` is stable; see ERROR_CATALOG. */
export class PluginError extends Error {
  override readonly name = 'PluginError' as const;
  readonly code: ErrorCode;
  readonly field?: string;
  readonly problems?: readonly Problem[];

  constructor(code: ErrorCode, message: string, options: PluginErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.field !== undefined) this.field = options.field;
    if (options.problems !== undefined) this.problems = options.problems;
  }

  /** A plain object for logs, HTTP answers and emit payloads. */
  toJSON(): { code: ErrorCode; message: string; field?: string; problems?: readonly Problem[] } {
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.problems !== undefined && { problems: this.problems }),
    };
  }
}

/** True for a PluginError, also one from another copy of this module (a host loading dist/ while it runs from src/). */
export function isPluginError(e: unknown): e is PluginError {
  return e instanceof PluginError || (e instanceof Error && e.name === 'PluginError' && typeof (e as { code?: unknown }).code === 'string');
}
