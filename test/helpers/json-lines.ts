import { expect } from 'chai';

/** One line of the reference host's log. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  time: string;
  msg: string;
  [field: string]: unknown;
}

/**
 * The complete lines of `text` (a host's stderr so far), each parsed as one JSON log line; fails the
 * test on any line that is not a JSON object with level, an ISO time and msg (a plain-text line mixed in).
 */
export function jsonLines(text: string): LogLine[] {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      let v: LogLine;
      try {
        v = JSON.parse(l);
      } catch {
        return expect.fail(`a stderr line that is not JSON: ${JSON.stringify(l.slice(0, 300))}`);
      }
      expect(v, l).to.be.an('object');
      expect(['debug', 'info', 'warn', 'error'], l).to.include(v.level);
      expect(v.time, l).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(v.msg, l).to.be.a('string');
      return v;
    });
}

/** The host's ready line, once written: `ready: POST events to <url>/events …` with its url and token source. */
export function readyLine(text: string): (LogLine & { url: string; token: { file?: string; env?: string } }) | undefined {
  return jsonLines(text).find((l) => l.msg.startsWith('ready: ')) as (LogLine & { url: string; token: { file?: string; env?: string } }) | undefined;
}
