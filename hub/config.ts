import { z } from 'zod';
import { ID_PATTERN } from '../protocol/index.js';
import { WebConfigSchema } from './web/config.js';

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
          .object({ port: z.number().int().min(0).max(65535).default(8883), keyFile: z.string(), certFile: z.string(), caFile: z.string().optional() })
          .nullable()
          .default(null),
        /** What devices are told to connect to; default: the host they enrolled through. */
        publicUrl: z.string().nullable().default(null),
      })
      .prefault({}),
    http: z
      .object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(8080) })
      .prefault({}),
    province: z
      .object({
        url: z.string().url('province.url must be a URL such as https://hcp.example.gov.cn/api/evaluations'),
        batchSize: z.number().int().positive().max(5000).default(200),
        lingerMs: z.number().int().nonnegative().default(50),
        timeoutMs: z.number().int().positive().default(10_000),
        headers: z.record(z.string(), z.string()).default({}),
      })
      .nullable()
      .default(null),
    ingest: z.object({ lingerMs: z.number().int().nonnegative().default(2), maxBatch: z.number().int().positive().default(500) }).prefault({}),
    /** The hall web page: 差评 policy profile, working-day overrides, sessions, alerts. */
    web: WebConfigSchema.prefault({}),
  })
  .strict();
export type HubConfig = z.infer<typeof HubConfigSchema>;
export type HubConfigInput = z.input<typeof HubConfigSchema>;
