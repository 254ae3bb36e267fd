/**
 * What the simulator holds for each evaluator, whether the agent runs in the simulator's own
 * process or as its own `haochaping device run --control stdio` process (chaos mode, where a
 * kill must be a real SIGKILL). Both report the same things: records stored, thank-yous
 * shown, frames, outbox depth.
 */
import { EventEmitter } from 'node:events';
import type { DeviceConfig, SessionMessage } from '../../protocol/index.js';
import type { Frame } from '../../device/display/types.js';

/** A record the device said it committed to its outbox. */
export interface StoredReport {
  device: string;
  id: string;
  seq: number;
  kind: 'rating' | 'not-rated';
  level: number | null;
  reasons: string[];
  session: string | null;
  flags: string[];
}

export interface SimDeviceEvents {
  /** Committed to the outbox (not yet thanked). */
  stored: [StoredReport];
  /** The thank-you for this rating was shown: from here on it must reach the province once. */
  thanked: [StoredReport];
  frame: [Frame];
  /** An out-of-service frame: the press was not written and not thanked. */
  outOfService: [fault: string];
  /** The device process went away (killed, crashed) or came back. */
  down: [reason: string];
  up: [];
}

export abstract class SimDevice extends EventEmitter<SimDeviceEvents> {
  frame: Frame | null = null;
  depth = 0;
  lastSeq = 0;
  connected = false;
  config: DeviceConfig | null = null;
  private unthanked: StoredReport | null = null;

  constructor(
    readonly id: string,
    readonly window: string,
    readonly dir: string,
  ) {
    super();
  }

  abstract get alive(): boolean;
  /** A citizen presses button `i` (0-based); false if the device is off and nothing happened. */
  abstract press(i: number): boolean;
  /** Delivers a session/config message as the hub would (stand-in until the hub API exists). */
  abstract deliverSession(m: SessionMessage): boolean;
  abstract deliverConfig(c: DeviceConfig): boolean;
  abstract start(): Promise<void>;
  /** Clean stop (SIGTERM for a process). */
  abstract stop(): Promise<void>;

  /** Feed what the device said; the thank-you logic is the same for every kind of handle. */
  protected onStored(r: StoredReport): void {
    this.lastSeq = Math.max(this.lastSeq, r.seq);
    this.unthanked = r.kind === 'rating' ? r : null;
    this.emit('stored', r);
  }

  protected onFrame(f: Frame): void {
    this.frame = f;
    // The agent shows the thank-you as the very next frame after the commit, or not at all.
    const r = this.unthanked;
    this.unthanked = null;
    if (f.screen === 'thanks' && r) this.emit('thanked', r);
    else if (f.screen === 'out-of-service') {
      this.emit('outOfService', f.fault);
    }
    this.emit('frame', f);
  }

  /** A restart forgets what was on screen: an unthanked record stays unthanked. */
  protected onDown(reason: string): void {
    this.unthanked = null;
    this.connected = false;
    this.frame = null;
    this.emit('down', reason);
  }
}
