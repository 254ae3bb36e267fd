/**
 * Device faults of the size contract become alarms hall IT must look at (issue 16): a device that
 * refused a session it could not rate, one whose record was too large to write, or one holding
 * records the hub refused for good. The device reports these in its status; a status is retained
 * and repeated, so an alarm is raised when a fault appears, not on every status that carries it.
 */
import type { EventEmitter } from 'node:events';
import type { Alarms } from '../alarms/alarms.js';
import type { HubEvents } from '../events.js';
import type { Registry } from '../registry/registry.js';
import type { DeviceStatusStore } from './device-status.js';

/** The device's fault names (device/agent.ts) and what each means for the hall. */
export const ALARMED_FAULTS: Record<string, { what: string; counter: string }> = {
  'session-refused': {
    what: "refused to prompt for a session whose rating could exceed the protocol's size limit (the case was not rated)",
    counter: 'sessionsRefused',
  },
  'record-too-large': {
    what: "could not write a rating larger than the protocol's size limit (the citizen was not thanked)",
    counter: 'refusedOversized',
  },
  'records-refused': { what: 'holds records refused for good (kept in its outbox, not delivered)', counter: 'recordsRefused' },
};

export function alarmDeviceFaults(o: {
  events: EventEmitter<HubEvents>;
  alarms: Alarms;
  status: DeviceStatusStore;
  registry: Registry;
}): void {
  // Seeded from the stored statuses, so a hub restart does not raise standing faults again.
  // Per device: the faults and counters of its last online status. A fault raises an alarm when
  // it appears, and again when its counter grows (each refused session is one more alarm).
  const known = new Map<string, { faults: Set<string>; counters: Record<string, number> }>();
  for (const d of o.registry.list()) {
    const s = o.status.get(d.id)?.status;
    known.set(d.id, { faults: new Set(s?.faults ?? []), counters: s?.counters ?? {} });
  }
  o.events.on('status', (device, s) => {
    // A last will repeats the faults of the connect-time status: nothing new in it.
    if (s.state !== 'online') return;
    const before = known.get(device) ?? { faults: new Set<string>(), counters: {} };
    for (const f of s.faults) {
      const a = ALARMED_FAULTS[f];
      if (!a) continue;
      const grew = (s.counters[a.counter] ?? 0) > (before.counters[a.counter] ?? 0);
      if (!before.faults.has(f) || grew)
        o.alarms.raise('device-fault', device, `${device} ${a.what}`, { fault: f, [a.counter]: s.counters[a.counter] ?? 0 });
    }
    known.set(device, { faults: new Set(s.faults), counters: s.counters });
  });
}
