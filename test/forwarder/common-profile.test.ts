import { afterEach, describe, expect, it } from 'vitest';
import { caseKey, formatTime } from '../../hub/forwarder/mapping.js';
import { TestHall } from '../helpers/hall.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { queueStates } from './helpers.js';

let hall: TestHall | null = null;
afterEach(async () => {
  await hall?.close();
  hall = null;
});

describe('a hall forwarding in the common format', () => {
  it('a batch session of three cases rated once reaches the province as three evaluations, one per case, each exactly once through dropped answers', async () => {
    hall = await TestHall.start({
      // Every push is stored and its answer lost, until the test lets answers through.
      province: { profile: 'common', faults: { drop: 1 } },
      forward: { profile: 'common', areaCode: '420100', deptCode: '11420100MB0000000X', retry: { baseMs: 50, maxMs: 300 } },
    });
    const d = await hall.addDevice('05', { mode: 'session', timeouts: { repeatIntervalS: 0, thanksS: 0.2, tooSoonS: 0 } });
    await waitFor(() => d.agent.link.connected, 'device to connect');

    // The queue system finished three cases for one citizen at window 05 (Ankang art. 11: one rating for all).
    const cases = ['BJ2026112500101', 'BJ2026112500102', 'BJ2026112500103'];
    const session = { id: 'sess-batch-1', cases, itemCode: '11420000MB1234567X', itemName: '不动产登记' };
    // Opened through the hub (the hub attributes a rating only to a session it opened itself).
    await hall.api('/api/sessions', { ...session, window: '05', staffId: 'S042' });
    await waitFor(() => d.display.current?.screen === 'prompt' && d.display.current.cases.length === 3, 'the prompt with the three cases');
    d.rate(1); // 满意
    await waitFor(() => d.stored.length === 1, 'the rating stored on the device');
    const record = d.stored[0]!;
    expect(record.session).toEqual(session);

    await waitFor(() => hall!.province.stats().received >= 6, 'the province to receive the batch twice, answering neither');
    expect(queueStates(hall.hub!.db)).toEqual({ pending: 1 });
    hall.province.setFaults({});
    await waitFor(() => queueStates(hall!.hub!.db).done === 1, 'the hub to mark the evaluation forwarded');
    await sleep(200);

    const s = hall.province.stats();
    expect(s.accepted).toBe(3);
    expect(s.duplicatesReceived).toBe(s.received - 3);
    expect(s.duplicatesReceived).toBeGreaterThanOrEqual(3);
    const page = (await (await fetch(`${hall.province.url}/api/evaluations`)).json()) as {
      records: { key: string; record: Record<string, unknown> }[];
    };
    expect(page.records.map((r) => r.key).sort()).toEqual(cases.map((c) => caseKey(record.id, c)).sort());
    const time = formatTime(record.at, 'yyyy-MM-dd HH:mm:ss', 480);
    for (const c of cases) {
      expect(page.records.find((r) => r.record.projectNo === c)?.record).toEqual({
        evaluationId: caseKey(record.id, c),
        projectNo: c,
        taskCode: '11420000MB1234567X',
        taskName: '不动产登记',
        areaCode: '420100',
        deptCode: '11420100MB0000000X',
        proManager: 'S042',
        satisfaction: '4',
        assessTime: time,
        assessNumber: '1',
        pf: '5',
        userProp: '1',
      });
    }
  });
});
