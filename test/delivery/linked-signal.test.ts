import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { linkedSignal } from '../../src/delivery/linked-signal';

describe('delivery: linkedSignal (one signal per attempt, no residue on long-lived ones)', () => {
  it('aborts with the reason of whichever source aborts first', () => {
    const shutdown = new AbortController();
    const deadline = new AbortController();
    const { signal } = linkedSignal(shutdown.signal, deadline.signal);
    expect(signal.aborted).to.equal(false);
    const reason = new Error('deadline');
    deadline.abort(reason);
    expect(signal.aborted).to.equal(true);
    expect(signal.reason).to.equal(reason);
    shutdown.abort(new Error('later'));
    expect(signal.reason).to.equal(reason);
  });

  it('is aborted at once when a source already is', () => {
    const gone = new AbortController();
    gone.abort(new Error('shutdown'));
    const { signal } = linkedSignal(new AbortController().signal, gone.signal);
    expect(signal.aborted).to.equal(true);
    expect((signal.reason as Error).message).to.equal('shutdown');
  });

  it('leaves nothing on a long-lived source after many attempts are disposed', () => {
    const shutdown = new AbortController();
    for (let i = 0; i < 1000; i++) {
      const deadline = new AbortController();
      const link = linkedSignal(shutdown.signal, deadline.signal);
      link.dispose();
    }
    expect(getEventListeners(shutdown.signal, 'abort')).to.have.length(0);
    const sym = Object.getOwnPropertySymbols(shutdown.signal).find((s) => s.description === 'kDependantSignals');
    const dependants = sym ? (shutdown.signal as unknown as Record<symbol, Set<unknown> | undefined>)[sym] : undefined;
    expect(dependants?.size ?? 0).to.equal(0);
  });
});
