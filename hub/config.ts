import { z } from 'zod';
import { ID_PATTERN } from '../protocol/index.js';
import { HandoffConfigSchema, ProvinceConfigSchema } from './forwarder/config.js';
import { WebConfigSchema } from './web/config.js';
import { CitizenConfigSchema } from './citizen/config.js';

/** The hub's configuration, validated at start-up with messages hall IT can act on. */
export const HubConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    hall: z.string().regex(ID_PATTERN, 'hall must be 1–64 letters, digits, "_" or "-"'),
    mqtt: z
      .object({
        host: z.string().default('0.0.0.0'),
        /** Plain TCP; null disables it (production halls use TLS only). */
        port: z.number().int().min(0).max(65535).nullable().default(1883),
        tls: z
          .object({
            port: z.number().int().min(0).max(65535).default(8883),
            keyFile: z.string(),
            certFile: z.string(),
            caFile: z.string().optional(),
          })
          .nullable()
          .default(null),
        /** What devices are told to connect to; default: the host they enrolled through. */
        publicUrl: z.string().nullable().default(null),
        limits: z
          .object({
            /** Largest MQTT packet accepted; a larger one closes the connection. */
            maxPacketBytes: z
              .number()
              .int()
              .min(16 * 1024, 'mqtt.limits.maxPacketBytes must be at least 16384 (a status or rating with headers)')
              .default(64 * 1024),
            /**
             * Sustained messages per second per device, and how many may come at once. A device
             * draining a long outage's outbox (64 in flight) runs at this rate; the whole hub
             * ingests ~1,000/s, so one device can never take all of it.
             */
            ratePerDevice: z.number().positive().default(500),
            burstPerDevice: z.number().int().positive().default(500),
            /**
             * A message that would have to wait longer than this is dropped: only a client
             * flooding far beyond any device. Below it, excess is held, never dropped — a drop
             * makes the device resend out of order.
             */
            maxDelayMs: z.number().int().nonnegative().default(30_000),
            /** A connection that has not sent its whole CONNECT (or finished TLS) by then is closed. */
            connectTimeoutMs: z.number().int().min(500).max(120_000).default(5_000),
          })
          .prefault({}),
      })
      .prefault({}),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /**
         * With mqtt.tls configured the API, hall page and enrolment are HTTPS with the same
         * certificate; true keeps them plain (a TLS reverse proxy in front, on loopback).
         */
        plain: z.boolean().default(false),
        /** Addresses/CIDRs of TLS reverse proxies whose X-Forwarded-For/-Proto are believed (Fastify trustProxy). */
        trustProxy: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    /** Forwarding to the provincial platform (hub/forwarder/config.ts); null: keep everything at the hub. */
    province: ProvinceConfigSchema.nullable().default(null),
    /** Where 差评 the hall cannot resolve are handed on (12345, a department); null: no 转办. */
    handoff: HandoffConfigSchema.nullable().default(null),
    /** The 基本满意 default for sessions nobody rated (Hubei art. 12: 7 days). */
    defaults: z
      .object({
        unit: z.enum(['calendar-days', 'working-days'], 'defaults.unit must be "calendar-days" or "working-days"').default('calendar-days'),
        count: z.number().int().min(1, 'defaults.count must be at least 1 day').max(60).default(7),
        /** After a start, wait this long before making overdue defaults (devices deliver what they kept). */
        startGraceMs: z
          .number()
          .int()
          .nonnegative()
          .default(5 * 60_000),
      })
      .prefault({}),
    /**
     * The one working-day calendar's override file (hub/calendar/working-days.ts), for the
     * 7-day defaults and the 差评 deadlines alike: { "holidays": [...], "workdays": [...], "years": [...] }.
     */
    holidayFile: z.string().nullable().default(null),
    ingest: z
      .object({
        lingerMs: z.number().int().nonnegative().default(2),
        maxBatch: z.number().int().positive().default(500),
        /**
         * Worker threads checking signatures (hub/ingest/verify-pool.ts). Default: one per core
         * but one, at least one, at most four (the broker, store and acks keep the main thread busy).
         * 0: check on the main thread.
         */
        verifyWorkers: z.number().int().min(0).max(16).optional(),
      })
      .prefault({}),
    /** The hall web page: 差评 policy profile, sessions, alerts (its calendar is holidayFile above). */
    web: WebConfigSchema.prefault({}),
    /** The citizen's QR page, window boards and public results (hub/citizen/). */
    citizen: CitizenConfigSchema.prefault({}),
  })
  .strict();
export type HubConfig = z.infer<typeof HubConfigSchema>;
export type HubConfigInput = z.input<typeof HubConfigSchema>;
