import type { DeviceConfig, RatingRecord, Status } from '../protocol/index.js';
import type { Alarm } from './alarms/alarms.js';
import type { FactBatch } from './facts/fact-sync.js';

/**
 * The hub's event bus: parts that react to what happened (defaults, work orders, the live
 * web page) listen here instead of being called from ingest or the broker.
 */
export interface HubEvents {
  /** Records committed by one group commit (after the commit, before or while acks go out). */
  stored: [records: RatingRecord[]];
  /** A device published a status (online, or its last will: offline). */
  status: [device: string, status: Status];
  /** MQTT client connected / disconnected (client id). */
  connected: [clientId: string];
  disconnected: [clientId: string];
  /** 7-day 基本满意 defaults were committed to the forward queue (how many). */
  defaulted: [count: number];
  /**
   * A citizen gave or added to an evaluation on the QR page (hub/citizen/), committed: its
   * evaluation kind, the rating it is about (the rating a follow-up adds to, else its own id), the text.
   */
  citizen: [kind: string, ratingId: string, text: string | null];
  /** Something hall IT must look at: a forged or forked record, missing records. */
  alarm: [alarm: Alarm];
  /**
   * A device's config was pushed (retained): enrolment, staff log-in/out, pause/resume, hall
   * settings. Carries the whole config (device, version, staff on duty, paused).
   */
  config: [config: DeviceConfig];
  /** Stored ratings became facts, work orders and alerts (FactSync, after each chunk's commit). */
  facts: [batch: FactBatch];
}
