/**
 * aedes' in-memory persistence (aedes-persistence), with retained messages for an exact topic
 * found by a map lookup.
 *
 * On every SUBSCRIBE aedes asks the persistence for the retained messages matching each
 * subscribed pattern. The stock memory persistence tests every retained topic against the
 * pattern (a Qlobber per call), so a subscription costs one match per retained message. The hub
 * keeps a retained config per device and each device a retained status: with 1,000 devices that
 * is ~2,000 retained messages, and each device subscribes to three exact topics (ack, config,
 * session) — ~6 million matches when a hall reconnects (~3 % of the hub's main thread in a
 * 400-device backlog, most of it while the devices come back). A device's subscriptions have no
 * wildcard (the ACL allows only its own topics), so this serves an exact pattern from a map of
 * its own and hands a pattern with a wildcard to the stock search.
 */
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type { AedesPersistence, Packet } from 'aedes-persistence';

/** A retained message as the persistence holds it: a PUBLISH (the only packet stored retained). */
type AedesPacket = Extract<Packet, { topic: string; payload: unknown }>;

const require = createRequire(import.meta.url);

interface AsyncMemoryPersistence {
  storeRetained(packet: AedesPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

// The package's own parts (it has no "exports" map): the async memory persistence and the
// callback layer aedes talks to — what `aedes-persistence`'s default export puts together.
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new (opts?: object) => AsyncMemoryPersistence;
const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as {
  CallBackPersistence: new (factory: (opts: object) => AsyncMemoryPersistence, opts?: object) => AedesPersistence;
};

const hasWildcard = (pattern: string) => pattern.includes('+') || pattern.includes('#');

class ExactRetained extends MemoryPersistence {
  /** Retained messages by topic, as the stock persistence keeps them (its own map is private). */
  private readonly byTopic = new Map<string, AedesPacket>();

  override async storeRetained(pkt: AedesPacket): Promise<void> {
    await super.storeRetained(pkt);
    if (pkt.payload.length === 0) this.byTopic.delete(pkt.topic);
    else this.byTopic.set(pkt.topic, Object.assign({}, pkt));
  }

  override createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  override createRetainedStreamCombi(patterns: string[]): Readable {
    if (patterns.some(hasWildcard)) {
      // In the order of the patterns, as the stock persistence answers.
      const each = patterns.map((p) => (hasWildcard(p) ? super.createRetainedStreamCombi([p]) : this.exact(p)));
      return Readable.from(
        (async function* () {
          for (const part of each) yield* part;
        })(),
      );
    }
    return Readable.from(patterns.flatMap((p) => this.exact(p)));
  }

  private exact(topic: string): AedesPacket[] {
    const p = this.byTopic.get(topic);
    return p ? [p] : [];
  }
}

/** The hub broker's persistence: aedes' in-memory one, exact-topic retained lookups by map. */
export function hubPersistence(): AedesPersistence {
  return new CallBackPersistence((opts) => new ExactRetained(opts));
}
