/** The shared debouncer with a fake clock: chatter, spikes, and a button held for minutes. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ButtonLines } from '../../device/buttons/debounce.js';

let ev: string[];
let lines: ButtonLines;
beforeEach(() => {
  vi.useFakeTimers();
  ev = [];
  lines = new ButtonLines(
    5,
    { debounceMs: 30, stuckMs: 60_000 },
    { press: (b) => ev.push(`press ${b}`), fault: (f) => ev.push(`fault ${f}`), recover: (f) => ev.push(`recover ${f}`) },
  );
});
afterEach(() => {
  lines.stop();
  vi.useRealTimers();
});

/** Edges at the given ms offsets, alternating down/up from `first`. */
function edges(button: number, first: boolean, at: number[]): void {
  let level = first;
  let t = 0;
  for (const a of at) {
    vi.advanceTimersByTime(a - t);
    t = a;
    lines.edge(button, level);
    level = !level;
  }
}

describe('debouncing contacts', () => {
  it('a contact that chatters for 8 ms on closing and on opening is one press', () => {
    edges(0, true, [0, 1, 2, 4, 5, 8]); // closing: down, up, down, up, down, up within 8 ms…
    lines.edge(0, true); // …then closed for good
    vi.advanceTimersByTime(100);
    edges(0, false, [0, 2, 3, 7]); // opening: up, down, up, down…
    lines.edge(0, false); // …then open
    vi.advanceTimersByTime(100);
    expect(ev).toEqual(['press 0']);
  });

  it('a press counts once the contact has been closed for the debounce time, not before', () => {
    lines.edge(2, true);
    vi.advanceTimersByTime(29);
    expect(ev).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ev).toEqual(['press 2']);
  });

  it('a 10 ms spike (interference on a long cable) is not a press', () => {
    lines.edge(1, true);
    vi.advanceTimersByTime(10);
    lines.edge(1, false);
    vi.advanceTimersByTime(1000);
    expect(ev).toEqual([]);
  });

  it('the same level reported twice is harmless', () => {
    lines.edge(3, true);
    lines.edge(3, true);
    vi.advanceTimersByTime(50);
    lines.edge(3, false);
    lines.edge(3, false);
    vi.advanceTimersByTime(50);
    expect(ev).toEqual(['press 3']);
  });
});

describe('stuck buttons', () => {
  it('a button held down for ten minutes gives one press and one stuck-button fault, cleared on release', () => {
    lines.edge(4, true);
    vi.advanceTimersByTime(59_999);
    expect(ev).toEqual(['press 4']);
    vi.advanceTimersByTime(10 * 60_000);
    expect(ev).toEqual(['press 4', 'fault stuck-button-5']);
    lines.edge(4, false);
    vi.advanceTimersByTime(30);
    expect(ev).toEqual(['press 4', 'fault stuck-button-5', 'recover stuck-button-5']);
  });

  it('a button already down at start-up is not a press, but is reported stuck', () => {
    lines.init(0, true);
    vi.advanceTimersByTime(60_000);
    expect(ev).toEqual(['fault stuck-button-1']);
  });

  it('other buttons keep working while one is stuck', () => {
    lines.edge(0, true);
    vi.advanceTimersByTime(61_000);
    lines.edge(1, true);
    vi.advanceTimersByTime(30);
    lines.edge(1, false);
    vi.advanceTimersByTime(30);
    expect(ev).toEqual(['press 0', 'fault stuck-button-1', 'press 1']);
  });
});

describe("hardware timestamps (gpiomon gives the kernel's)", () => {
  it('a press and release that arrive bunched up still count, because their timestamps are 80 ms apart', () => {
    lines.edge(0, true, 1000);
    lines.edge(0, false, 1080); // arrives at the same instant as the press
    vi.advanceTimersByTime(100);
    expect(ev).toEqual(['press 0']);
  });

  it('chatter with timestamps a millisecond apart is still one press', () => {
    [1000, 1001, 1002.5, 1004].forEach((t, k) => lines.edge(1, k % 2 === 0, t));
    lines.edge(1, true, 1005);
    vi.advanceTimersByTime(100);
    lines.edge(1, false, 1200);
    vi.advanceTimersByTime(100);
    expect(ev).toEqual(['press 1']);
  });
});
