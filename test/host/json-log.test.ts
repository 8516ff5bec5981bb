import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { jsonLog } from '../../src/host/json-log';
import { jsonLines } from '../helpers/json-lines';

describe('host: the JSON-lines log', () => {
  function capture(level: 'debug' | 'info' | 'warn' | 'error') {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c));
    return { log: jsonLog({ level, destination: out }), text: () => text };
  }

  it('one JSON object a line with level, ISO time and msg; fields after them, never a second level, time or msg', () => {
    const { log, text } = capture('info');
    log.info('email.delivered', { eventId: 'e1', tenant: 'a.example.com', msg: 'from a field', level: 'from a field', time: 3 });
    log.warn('plain');
    const lines = jsonLines(text());
    expect(lines.map(({ time, ...rest }) => rest)).to.deep.equal([
      { level: 'info', msg: 'email.delivered', eventId: 'e1', tenant: 'a.example.com', _msg: 'from a field', _level: 'from a field', _time: 3 },
      { level: 'warn', msg: 'plain' },
    ]);
    for (const l of text().trimEnd().split('\n')) expect(l.match(/"msg":/g), l).to.have.length(1);
  });

  it('below its level nothing is written; circular and BigInt fields and Errors never throw', () => {
    const { log, text } = capture('warn');
    log.debug('hidden');
    log.info('hidden too');
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    log.error('odd fields', { loop, big: 10n, error: Object.assign(new Error('boom'), { code: 'SPOOL_FAILURE' }) });
    const [line] = jsonLines(text());
    expect(jsonLines(text())).to.have.length(1);
    expect(line).to.deep.include({ level: 'error', msg: 'odd fields', loop: { a: 1, self: '[Circular]' }, big: 10, error: { name: 'Error', message: 'boom', code: 'SPOOL_FAILURE' } });
  });
});
