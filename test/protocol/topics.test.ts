import { describe, expect, it } from 'vitest';
import { parseTopic, topic } from '../../protocol/index.js';

describe('topics', () => {
  it('build and parse hcp/v1/{hall}/{device}/{kind}', () => {
    const t = topic('hall-1', 'ev-001', 'rating');
    expect(t).toBe('hcp/v1/hall-1/ev-001/rating');
    expect(parseTopic(t)).toEqual({ hall: 'hall-1', device: 'ev-001', kind: 'rating' });
    for (const kind of ['ack', 'status', 'config', 'session'] as const) expect(parseTopic(topic('h', 'd', kind))?.kind).toBe(kind);
  });

  it('refuse ids that would break the topic tree', () => {
    expect(() => topic('hall/1', 'ev', 'rating')).toThrow(/hall id/);
    expect(() => topic('hall', 'ev+', 'rating')).toThrow(/device id/);
    expect(() => topic('hall', '#', 'rating')).toThrow(/device id/);
  });

  it('parse nothing but our own topics', () => {
    for (const t of [
      'hcp/v2/h/d/rating',
      'hcp/v1/h/d/other',
      'hcp/v1/h/d',
      'hcp/v1/h/d/rating/x',
      '$SYS/broker',
      'hcp/v1/+/d/rating',
      '',
    ]) {
      expect(parseTopic(t), t).toBeNull();
    }
  });
});
