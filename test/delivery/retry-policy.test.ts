import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backoffDelay, isExpired, longestDelay, rebaseDue } from '../../src/delivery/retry-policy';
import { SqliteSpool } from '../../src/spool';
import { voicemail } from '../helpers/events';

const retry = { initialDelayMs: 60_000, maxDelayMs: 3_600_000, maxAgeMs: 432_000_000, authFailureDelayMs: 900_000 };
const NOW = Date.parse('2026-12-02T12:00:00Z');
const DAY = 86_400_000;

describe('retry policy: backoff, re-basing after a clock jump, expiry', () => {
  it('backoffDelay never exceeds maxDelayMs, so no retry is put further ahead than longestDelay', () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      for (const r of [0, 0.5, 1]) expect(backoffDelay(attempt, retry, () => r)).to.be.at.most(longestDelay(retry));
    }
    expect(backoffDelay(40, retry, () => 1)).to.equal(retry.maxDelayMs);
  });

  it('longestDelay is the larger of maxDelayMs and authFailureDelayMs', () => {
    expect(longestDelay(retry)).to.equal(3_600_000);
    expect(longestDelay({ ...retry, authFailureDelayMs: 7_200_000 })).to.equal(7_200_000);
  });

  it('rebaseDue keeps a due time within longestDelay of now, past or future', () => {
    expect(rebaseDue(NOW, NOW, retry)).to.equal(NOW);
    expect(rebaseDue(NOW - DAY, NOW, retry)).to.equal(NOW - DAY);
    expect(rebaseDue(NOW + 1_000, NOW, retry)).to.equal(NOW + 1_000);
    expect(rebaseDue(NOW + retry.maxDelayMs, NOW, retry)).to.equal(NOW + retry.maxDelayMs);
  });

  it('rebaseDue makes a due time further ahead than longestDelay (the clock went back) due now', () => {
    expect(rebaseDue(NOW + retry.maxDelayMs + 1, NOW, retry)).to.equal(NOW);
    // Written at real time, read by a process whose clock is a day behind.
    expect(rebaseDue(NOW, NOW - DAY, retry)).to.equal(NOW - DAY);
    // The auth hold is the longer one here: a due time within it stands.
    const authLong = { ...retry, authFailureDelayMs: 2 * 3_600_000 };
    expect(rebaseDue(NOW + 1.5 * 3_600_000, NOW, authLong)).to.equal(NOW + 1.5 * 3_600_000);
    expect(rebaseDue(NOW + 2 * 3_600_000 + 1, NOW, authLong)).to.equal(NOW);
  });

  it('isExpired: past maxAgeMs, strictly', () => {
    expect(isExpired(NOW, NOW + retry.maxAgeMs, retry)).to.equal(false);
    expect(isExpired(NOW, NOW + retry.maxAgeMs + 1, retry)).to.equal(true);
    // A clock that went back makes nothing expire.
    expect(isExpired(NOW, NOW - DAY, retry)).to.equal(false);
  });

  it('SqliteSpool.rebase makes due now exactly the queued records stored beyond `latest`, and says which tenants', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-rebase-'));
    const spool = new SqliteSpool(dir);
    try {
      const add = async (tenant: string) => {
        const e = voicemail(tenant);
        await spool.enqueue({ eventId: e.id, tenant, type: 'voicemail.received', event: e as any, attachments: [], pending: [`a@${tenant}`], messageId: `<${e.id}@x>` });
        return (await spool.getByEventId(tenant, e.id))!;
      };
      const near = await add('a.example');
      const far = await add('a.example');
      const farB = await add('b.example');
      const now = Date.now();
      await spool.recordAttempts([{ seq: near.seq, outcome: { state: 'queued', pending: near.pending, deliveredNow: [], failedNow: [], attempts: 1, nextAttemptAt: now + 1_000 } }]);
      await spool.recordAttempts([{ seq: far.seq, outcome: { state: 'queued', pending: far.pending, deliveredNow: [], failedNow: [], attempts: 1, nextAttemptAt: now + DAY } }]);
      await spool.recordAttempts([{ seq: farB.seq, outcome: { state: 'queued', pending: farB.pending, deliveredNow: [], failedNow: [], attempts: 1, nextAttemptAt: now + DAY } }]);
      const changed = await spool.rebase(now, now + longestDelay(retry));
      expect(changed.sort((x, y) => x.tenant.localeCompare(y.tenant))).to.deep.equal([{ tenant: 'a.example', count: 1 }, { tenant: 'b.example', count: 1 }]);
      expect((await spool.get(near.seq))!.nextAttemptAt).to.equal(now + 1_000);
      expect((await spool.get(far.seq))!.nextAttemptAt).to.equal(now);
      expect((await spool.get(farB.seq))!.nextAttemptAt).to.equal(now);
      expect(await spool.rebase(now, now + longestDelay(retry))).to.deep.equal([]);
    } finally {
      await spool.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
