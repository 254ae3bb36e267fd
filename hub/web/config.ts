import { z } from 'zod';
import { ClusterRuleSchema } from '../stats/alerts.js';
import { MisuseRuleSchema } from '../stats/misuse-alerts.js';

/** The hall web page's part of the hub configuration (HubConfig.web). */
export const WebConfigSchema = z
  .object({
    /** 差评 deadlines: a built-in profile (hubei, ankang, jilin) or a JSON file with one. */
    policy: z.string().min(1).default('ankang'),
    /** A session ends after this long without a request (a wall screen's live feed counts). */
    sessionIdleMinutes: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 60)
      .default(120),
    /** …and at the latest this long after log-in. */
    sessionMaxHours: z
      .number()
      .int()
      .positive()
      .max(24 * 30)
      .default(12),
    alerts: ClusterRuleSchema.prefault({}),
    /** Misuse alerts: sessionless presses, bursts of top ratings, a flagged window far above the hall. */
    misuseAlerts: MisuseRuleSchema.prefault({}),
    /** The page title, e.g. "XX市民中心 一楼大厅". */
    hallName: z.string().max(64).nullable().default(null),
  })
  .strict();
export type WebConfig = z.infer<typeof WebConfigSchema>;
export type WebConfigInput = z.input<typeof WebConfigSchema>;
