import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyRecord } from '../../protocol/index.js';
import { evaluationFromRecord, type Evaluation } from '../../hub/forwarder/evaluation.js';
import {
  buildRequestBody,
  caseKey,
  checkItem,
  formatTime,
  mapEvaluation,
  MappingError,
  parseReply,
  type MappingContext,
} from '../../hub/forwarder/mapping.js';
import { loadProfile, parseProfile, ProfileError, type Profile } from '../../hub/forwarder/profile.js';
import { generateDeviceKeys, makeRecord } from '../helpers/records.js';
import { tempHubDb } from './helpers.js';

const CTX: MappingContext = { areaCode: '420100', deptCode: '11420100MB0000000X', deptCodeByWindow: { '07': '11420100MB0000007Y' } };

// 2025-11-24 16:30:05.250 UTC is 2025-11-25 00:30:05 in China: the date must roll over.
const AT = Date.UTC(2025, 10, 24, 16, 30, 5, 250);
const ID = '019ab2c3-4d5e-7f60-8a1b-2c3d4e5f6a7b';
const DEFAULT_ID = '019ab2c3-0000-7000-8000-000000000001';
const SESSION = { id: 'sess-42', cases: ['BJ2026112500001'], itemCode: '11420000MB1234567X', itemName: '不动产登记' };
const BATCH = { ...SESSION, id: 'sess-43', cases: ['BJ2026112500001', 'BJ2026112500002', 'BJ2026112500003'] };

/** Fixed sample evaluations: what ingest and the defaults make. */
const samples = {
  rating: {
    id: ID,
    kind: 'rating',
    hall: 'hall-1',
    device: 'ev-012',
    window: '12',
    staffId: 'S042',
    level: 2,
    reasons: ['213', '214'],
    text: null,
    session: SESSION,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 1,
    flags: [],
    supersedes: null,
    record: null,
  },
  walkUp: {
    id: ID,
    kind: 'rating',
    hall: 'hall-1',
    device: 'ev-007',
    window: '07',
    staffId: null,
    level: 5,
    reasons: [],
    text: null,
    session: null,
    assessedAt: AT,
    clockSynced: false,
    assessNumber: 1,
    flags: ['walk-up'],
    supersedes: null,
    record: null,
  },
  default: {
    id: DEFAULT_ID,
    kind: 'default',
    hall: 'hall-1',
    device: null,
    window: '12',
    staffId: 'S042',
    level: 3,
    reasons: [],
    text: null,
    session: SESSION,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 1,
    flags: [],
    supersedes: null,
    record: null,
  },
  correction: {
    id: ID,
    kind: 'correction',
    hall: 'hall-1',
    device: 'ev-012',
    window: '12',
    staffId: 'S042',
    level: 1,
    reasons: ['115'],
    text: '等了两个小时，窗口人员态度很差',
    session: SESSION,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 2,
    flags: [],
    supersedes: DEFAULT_ID,
    record: null,
  },
  batch: {
    id: ID,
    kind: 'rating',
    hall: 'hall-1',
    device: 'ev-012',
    window: '12',
    staffId: 'S042',
    level: 4,
    reasons: [],
    text: null,
    session: BATCH,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 1,
    flags: [],
    supersedes: null,
    record: null,
  },
  batchDefault: {
    id: DEFAULT_ID,
    kind: 'default',
    hall: 'hall-1',
    device: null,
    window: '12',
    staffId: 'S042',
    level: 3,
    reasons: [],
    text: null,
    session: BATCH,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 1,
    flags: [],
    supersedes: null,
    record: null,
  },
  batchCorrection: {
    id: ID,
    kind: 'correction',
    hall: 'hall-1',
    device: 'ev-012',
    window: '12',
    staffId: 'S042',
    level: 5,
    reasons: ['510'],
    text: null,
    session: BATCH,
    assessedAt: AT,
    clockSynced: true,
    assessNumber: 2,
    flags: [],
    supersedes: DEFAULT_ID,
    record: null,
  },
} satisfies Record<string, Evaluation>;

const bodies = (p: Profile, e: Evaluation) => mapEvaluation(p, e, CTX).map((i) => i.body);

describe('the common profile, field by field', () => {
  const common = loadProfile('common');

  it('a 差评 pressed at window 12 for one case', () => {
    expect(mapEvaluation(common, samples.rating, CTX)).toEqual([
      {
        key: ID,
        body: {
          evaluationId: ID,
          projectNo: 'BJ2026112500001',
          taskCode: '11420000MB1234567X',
          taskName: '不动产登记',
          areaCode: '420100',
          deptCode: '11420100MB0000000X',
          proManager: 'S042',
          satisfaction: '2', // 1 = 非常不满意 … 5 = 非常满意
          evalDetail: '213,214',
          assessTime: '2025-11-25 00:30:05', // China time
          assessNumber: '1',
          pf: '5', // other hall terminal
          userProp: '1',
        },
      },
    ]);
  });

  it("a walk-up 非常满意 without a case: no projectNo or item, the window's own department", () => {
    expect(bodies(common, samples.walkUp)).toEqual([
      {
        evaluationId: ID,
        areaCode: '420100',
        deptCode: '11420100MB0000007Y',
        satisfaction: '5',
        assessTime: '2025-11-25 00:30:05',
        assessNumber: '1',
        pf: '5',
        userProp: '1',
      },
    ]);
  });

  it("the 7-day default: 基本满意, first rating; the common format has no default channel code, so pf is the terminal's", () => {
    expect(bodies(common, samples.default)).toEqual([
      {
        evaluationId: DEFAULT_ID,
        projectNo: 'BJ2026112500001',
        taskCode: '11420000MB1234567X',
        taskName: '不动产登记',
        areaCode: '420100',
        deptCode: '11420100MB0000000X',
        proManager: 'S042',
        satisfaction: '3',
        assessTime: '2025-11-25 00:30:05',
        assessNumber: '1',
        pf: '5',
        userProp: '1',
      },
    ]);
  });

  it("a correction after the default: assessNumber 2, with the citizen's text", () => {
    expect(bodies(common, samples.correction)).toEqual([
      {
        evaluationId: ID,
        projectNo: 'BJ2026112500001',
        taskCode: '11420000MB1234567X',
        taskName: '不动产登记',
        areaCode: '420100',
        deptCode: '11420100MB0000000X',
        proManager: 'S042',
        satisfaction: '1',
        evalDetail: '115',
        writingEvaluation: '等了两个小时，窗口人员态度很差',
        assessTime: '2025-11-25 00:30:05',
        assessNumber: '2',
        pf: '5',
        userProp: '1',
      },
    ]);
  });

  it('a batch session of three cases: one evaluation per case number, each with its own stable derived key', () => {
    const items = mapEvaluation(common, samples.batch, CTX);
    // Fixed values: the derivation (UUIDv5 of "<evaluation id>/<case number>") must never change,
    // or a resend after an upgrade would be a new evaluation at the province.
    expect(items.map((i) => i.key)).toEqual([
      '04acf8ee-4dee-5f71-b68b-4b72986da47f',
      'a05ff722-1a2e-5782-adc1-01c8a47e8653',
      '1d6204e3-682d-5fba-99ac-8fc14289b2a9',
    ]);
    expect(items.map((i) => i.body.projectNo)).toEqual(BATCH.cases);
    for (const i of items) {
      expect(i.body.evaluationId).toBe(i.key);
      expect(i.body).toMatchObject({
        satisfaction: '4',
        assessNumber: '1',
        assessTime: '2025-11-25 00:30:05',
        taskCode: '11420000MB1234567X',
        proManager: 'S042',
        pf: '5',
      });
    }
    expect(new Set(items.map((i) => i.key)).size).toBe(3);
    expect(mapEvaluation(common, samples.batch, CTX)).toEqual(items); // the same keys on every resend
  });

  it('a batch default and its correction: per case, and the correction carries assessNumber 2 for each case', () => {
    const d = mapEvaluation(common, samples.batchDefault, CTX);
    const c = mapEvaluation(common, samples.batchCorrection, CTX);
    expect(d.map((i) => i.key)).toEqual([
      '6b5d2f6f-68d3-5d6a-a06d-db1f4df9b58a',
      'b449b8e4-4ddb-5739-9fac-1899fde4f8e5',
      'fc020d9c-a043-5cd4-89a0-d03bce7f57bf',
    ]);
    expect(c.map((i) => [i.body.projectNo, i.body.assessNumber, i.body.satisfaction, i.body.evalDetail])).toEqual(
      BATCH.cases.map((n) => [n, '2', '5', '510']),
    );
    expect(c.map((i) => i.key)).toEqual(BATCH.cases.map((n) => caseKey(ID, n)));
  });

  it('writingEvaluation is cut to 150 characters, counted as characters, not bytes', () => {
    const long = '服务'.repeat(100) + '😀';
    const [b] = bodies(common, { ...samples.correction, text: long });
    expect([...(b!.writingEvaluation as string)]).toHaveLength(150);
    expect(b!.writingEvaluation).toBe('服务'.repeat(75));
  });

  it("a batch request and the stand-in's checks", () => {
    const items = mapEvaluation(common, samples.batch, CTX);
    expect(JSON.parse(buildRequestBody(common, items))).toEqual({ records: items.map((i) => i.body) });
    for (const i of items) expect(checkItem(common, i.body)).toBeNull();
    expect(checkItem(common, { ...items[0]!.body, assessTime: '2025-11-25T00:30:05' })).toMatch(/assessTime/);
    expect(checkItem(common, { ...items[0]!.body, satisfaction: '6' })).toMatch(/satisfaction/);
  });
});

describe('the native profile, field by field', () => {
  const native = loadProfile('native');

  it("sends the evaluation itself, with the device's signed record, keyed by the record id", () => {
    const keys = generateDeviceKeys();
    const record = makeRecord(keys, { at: AT, clockSynced: true, level: 2, reasons: ['213', '214'], session: SESSION });
    const e = evaluationFromRecord(record, AT + 5000);
    const [item, ...rest] = mapEvaluation(native, e, CTX);
    expect(rest).toHaveLength(0);
    expect(item!.key).toBe(record.id);
    const sent = (JSON.parse(buildRequestBody(native, [item!])) as { records: Record<string, unknown>[] }).records[0]!;
    expect(sent).toEqual({
      id: record.id,
      kind: 'rating',
      hall: record.hall,
      device: record.device,
      window: record.window,
      staffId: record.staffId,
      level: 2,
      reasons: ['213', '214'],
      text: null,
      session: SESSION,
      assessedAt: AT, // the device clock was synced
      clockSynced: true,
      assessNumber: 1,
      flags: [],
      supersedes: null,
      record,
    });
    expect(verifyRecord(sent.record as typeof record, keys.publicKey).ok).toBe(true);
    // An unsynced clock: the time the hub received it.
    expect(evaluationFromRecord(makeRecord(keys, { at: AT, clockSynced: false }), AT + 5000).assessedAt).toBe(AT + 5000);
  });

  it('defaults and corrections go as they are: kind, assessNumber and supersedes say what they are', () => {
    expect(bodies(native, samples.default)).toEqual([samples.default]);
    expect(bodies(native, samples.batchCorrection)).toEqual([samples.batchCorrection]); // one evaluation, all cases in session.cases
    expect(mapEvaluation(native, samples.batchCorrection, CTX)[0]!.key).toBe(ID);
  });

  it("a batch body is the same whether items come serialised or not, with the profile's envelope constants", () => {
    const p = parseProfile(
      { extends: 'native', name: 'n2', request: { itemsField: 'list', constants: { source: 'HCP', version: 2 } } },
      'inline',
    );
    const items = [samples.default, samples.rating].flatMap((e) => mapEvaluation(p, e, CTX));
    const parsed = { source: 'HCP', version: 2, list: [samples.default, samples.rating] };
    expect(JSON.parse(buildRequestBody(p, items))).toEqual(parsed);
    expect(
      JSON.parse(
        buildRequestBody(
          p,
          items.map((i) => ({ ...i, body: {}, json: JSON.stringify(i.body) })),
        ),
      ),
    ).toEqual(parsed);
    expect(buildRequestBody(native, [])).toBe('{"records":[]}');
  });

  it("reads the province's per-record answers", () => {
    const r = parseReply(native, {
      results: [
        { id: 'a', status: 'accepted' },
        { id: 'b', status: 'duplicate' },
        { id: 'c', status: 'rejected', reason: '办件编号不存在' },
        { id: 'd', status: 'weird' },
      ],
    });
    expect(r.ok && [...r.results]).toEqual([
      ['a', { status: 'accepted' }],
      ['b', { status: 'duplicate' }],
      ['c', { status: 'rejected', reason: '办件编号不存在' }],
    ]);
    expect(parseReply(native, { ok: true }).ok).toBe(false);
  });
});

describe('a province profile file (the shipped YAML example)', () => {
  const example = loadProfile(join(import.meta.dirname, '../../hub/forwarder/profiles/example-province.yaml'));

  it('reverses satisfaction (GB/T 39046: 1 = 非常满意), renames fields, drops userProp, adds constants', () => {
    expect(bodies(example, samples.rating)).toEqual([
      {
        evaluateId: ID,
        sblsh: 'BJ2026112500001',
        taskCode: '11420000MB1234567X',
        taskName: '不动产登记',
        areaCode: '420100',
        deptCode: '11420100MB0000000X',
        handleUserId: 'S042',
        satisfaction: 4, // 不满意 is 4 when 1 = 非常满意
        evalDetail: '213,214',
        evaluateTime: '2025-11-25 00:30:05',
        assessNumber: 1,
        pf: 4,
        windowNo: '12',
        sourceSystem: 'HCP-HALL',
      },
    ]);
    expect(
      [5, 4, 3, 2, 1].map((level) => bodies(example, { ...samples.walkUp, level: level as Evaluation['level'] })[0]!.satisfaction),
    ).toEqual([1, 2, 3, 4, 5]);
  });

  it("uses the province's own channel code for the system default, and its reply format", () => {
    expect(bodies(example, samples.default)[0]).toMatchObject({ pf: 7, satisfaction: 3, assessNumber: 1 });
    expect(bodies(example, samples.correction)[0]).toMatchObject({ pf: 4, satisfaction: 5, assessNumber: 2 });
    expect(JSON.parse(buildRequestBody(example, mapEvaluation(example, samples.rating, CTX)))).toHaveProperty('data');
    const r = parseReply(example, { code: 200, data: [{ evaluateId: 'x', result: 'fail', msg: '评价时间格式错误' }] });
    expect(r.ok && r.results.get('x')).toEqual({ status: 'rejected', reason: '评价时间格式错误' });
    expect(parseReply(example, { code: 500, msg: '系统繁忙' })).toEqual({ ok: false, error: 'reply code = 500' });
    expect(example.maxBatch).toBe(100);
  });
});

describe('profile validation', () => {
  it('says what is wrong in words hall IT can act on', () => {
    expect(() => parseProfile({ name: 'x', format: 'fields', fields: { projectNo: 'a' } }, 'test.json')).toThrow(
      /fields\.key must name the field/,
    );
    expect(() => parseProfile({ extends: 'common', name: 'x', fields: { taskCode: 'projectNo' } }, 'dup.yaml')).toThrow(
      /"projectNo" is used twice/,
    );
    expect(() => parseProfile({ extends: 'nope', name: 'x' }, 'p.yaml')).toThrow(/not a shipped profile/);
    expect(() => parseProfile({ extends: 'common', name: 'x', satisfaction: { map: { '5': 1 } } }, 'p.yaml')).toThrow(/missing 4/);
    expect(() => loadProfile('guangdong')).toThrow(ProfileError);
  });

  it('reads JSON and YAML files', () => {
    const t = tempHubDb();
    try {
      writeFileSync(join(t.dir, 'p.json'), JSON.stringify({ extends: 'common', name: 'p-json', codesAs: 'number' }));
      writeFileSync(join(t.dir, 'p.yml'), 'extends: native\nname: p-yaml\nrequest:\n  itemsField: items\n');
      writeFileSync(join(t.dir, 'bad.yaml'), 'name: [unclosed\n');
      expect(loadProfile(join(t.dir, 'p.json'))).toMatchObject({ name: 'p-json', codesAs: 'number', format: 'fields' });
      expect(loadProfile(join(t.dir, 'p.yml'))).toMatchObject({ name: 'p-yaml', format: 'native', request: { itemsField: 'items' } });
      expect(() => loadProfile(join(t.dir, 'bad.yaml'))).toThrow(/not valid YAML/);
    } finally {
      t.cleanup();
    }
  });

  it('an evaluation a profile cannot map is an error, not a silent gap', () => {
    expect(() => mapEvaluation(loadProfile('common'), { ...samples.rating, level: 9 as Evaluation['level'] }, CTX)).toThrow(MappingError);
  });

  it('formats time at UTC+8 with any pattern', () => {
    expect(formatTime(AT, 'yyyyMMddHHmmss', 480)).toBe('20251125003005');
    expect(formatTime(AT, 'yyyy-MM-dd HH:mm:ss.SSS', 0)).toBe('2025-11-24 16:30:05.250');
  });
});
