import { describe, expect, it } from 'vitest';
import { decode, encode, MAX_BYTES } from '../../protocol/index.js';
import { generateDeviceKeys, makeRecord } from '../helpers/records.js';

const keys = generateDeviceKeys();

describe('decode', () => {
  it('accepts a valid record and returns it typed', () => {
    const r = makeRecord(keys);
    const d = decode('rating', JSON.stringify(r));
    expect(d.ok && d.value).toEqual(r);
  });

  it.each([
    ['oversized', 'x'.repeat(MAX_BYTES.rating + 1)],
    ['malformed', '{"v":1,'],
    ['malformed', '[1,2]'],
    ['malformed', 'null'],
    ['unknown-version', JSON.stringify({ ...makeRecord(keys), v: 2 })],
    ['unknown-version', '{}'],
    ['invalid', JSON.stringify({ ...makeRecord(keys), level: 7 })],
    ['invalid', JSON.stringify({ ...makeRecord(keys), extra: 1 })],
    ['invalid', JSON.stringify({ ...makeRecord(keys), seq: 0 })],
    ['invalid', JSON.stringify({ ...makeRecord(keys), device: 'a/b' })],
  ])('refuses %s input with a typed error', (code, payload) => {
    const d = decode('rating', payload);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.name).toBe('ProtocolError');
      expect(d.error.code).toBe(code);
      expect(d.error.message).toMatch(/rating payload/);
    }
  });

  it('refuses reasons that belong to another level', () => {
    const d = decode('rating', JSON.stringify(makeRecord(keys, { level: 5, reasons: ['213'] })));
    expect(!d.ok && d.error.message).toMatch(/reason 213 does not belong to level 5/);
  });

  it('refuses a not-rated record that carries a level', () => {
    const d = decode('rating', JSON.stringify(makeRecord(keys, { kind: 'not-rated', level: 3, reasons: [] })));
    expect(!d.ok && d.error.code).toBe('invalid');
  });

  it('decodes every message kind the hub sends', () => {
    const ack = encode('ack', { v: 1, acks: [{ seq: 1, id: makeRecord(keys).id }], rejects: [] });
    expect(decode('ack', ack).ok).toBe(true);
    const session = encode('session', {
      v: 1,
      op: 'open',
      session: { id: 's1', cases: ['A1'], itemCode: null, itemName: null },
      staffId: 'S1',
      openedAt: 1,
    });
    expect(decode('session', session).ok).toBe(true);
    expect(decode('session', '{"v":1,"op":"close"}').ok).toBe(false);
  });

  it('encode refuses to send what decode would refuse', () => {
    expect(() => encode('ack', { v: 1, acks: [{ seq: -1, id: 'x' }], rejects: [] })).toThrow();
  });
});
