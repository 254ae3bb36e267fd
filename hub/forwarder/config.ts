/**
 * The `province` section of the hub configuration: where and how evaluations go upstream.
 * Validated at start-up with messages hall IT can act on; secrets come from files so they stay
 * out of command lines and process listings.
 */
import { z } from 'zod';

const File = (what: string) => z.string().min(1, `${what} must be a file path`);

const HmacHeadersSchema = z
  .object({
    timestamp: z.string().default('x-hcp-timestamp'),
    signature: z.string().default('x-hcp-signature'),
    keyId: z.string().default('x-hcp-key-id'),
  })
  .strict()
  .prefault({});

export const ProvinceAuthSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z
    .object({ kind: z.literal('bearer'), token: z.string().min(1).optional(), tokenFile: File('province.auth.tokenFile').optional() })
    .strict()
    .refine((a) => !!a.token !== !!a.tokenFile, 'province.auth (bearer) needs exactly one of token or tokenFile'),
  z
    .object({
      kind: z.literal('hmac'),
      keyId: z.string().min(1).nullable().default(null),
      secret: z.string().min(1).optional(),
      secretFile: File('province.auth.secretFile').optional(),
      headers: HmacHeadersSchema,
      encoding: z.enum(['hex', 'base64']).default('hex'),
    })
    .strict()
    .refine((a) => !!a.secret !== !!a.secretFile, 'province.auth (hmac) needs exactly one of secret or secretFile'),
]);

export const ProvinceMqttSchema = z
  .object({
    /** The provincial broker cluster, tried in turn: mqtt://host:1883 or mqtts://host:8883. */
    urls: z
      .array(z.string().regex(/^mqtts?:\/\/[^/]+$/, 'province.mqtt.urls entries look like mqtts://broker.example.gov.cn:8883'))
      .min(1, 'province.mqtt.urls must list at least one broker'),
    /** `{hall}` is replaced by this hall's id. */
    topic: z.string().min(1).default('hcp/province/v1/{hall}/evaluations'),
    /** Where the province answers; null: the broker's PUBACK counts as accepted (only for brokers that persist every message). */
    replyTopic: z.string().min(1).nullable().default('hcp/province/v1/{hall}/results'),
    /** A topic per message stream (milestone, invalidation, handoff …) where the province wants one; default: `topic`. */
    topics: z.record(z.string(), z.string().min(1)).default({}),
    clientId: z.string().min(1).max(64).optional(),
    username: z.string().optional(),
    passwordFile: File('province.mqtt.passwordFile').optional(),
  })
  .strict();

export const ProvinceConfigSchema = z
  .object({
    transport: z.enum(['http', 'mqtt']).default('http'),
    /** For HTTP(S): where batches are POSTed. */
    url: z.string().url('province.url must be a URL such as https://hcp.example.gov.cn/api/evaluations').optional(),
    mqtt: ProvinceMqttSchema.optional(),
    /** A URL per message stream (milestone, invalidation, handoff …) where the province has one; default: `url` (the batch envelope tells them apart). */
    endpoints: z.record(z.string(), z.string().url('province.endpoints entries must be URLs')).default({}),
    /** A shipped profile (native, common) or a .json/.yaml profile file. */
    profile: z.string().min(1).default('native'),
    /** 行政区划代码 and 部门编码 sent with every evaluation (profiles that carry them need them). */
    areaCode: z.string().min(1).max(32).nullable().default(null),
    deptCode: z.string().min(1).max(64).nullable().default(null),
    /** Windows run by another department than deptCode: window → department code. */
    deptCodeByWindow: z.record(z.string(), z.string().min(1).max(64)).default({}),
    batchSize: z.number().int().positive().max(5000).default(200),
    lingerMs: z.number().int().nonnegative().default(50),
    timeoutMs: z.number().int().positive().default(10_000),
    connectTimeoutMs: z.number().int().positive().optional(),
    retry: z
      .object({ baseMs: z.number().int().positive().default(500), maxMs: z.number().int().positive().default(60_000) })
      .strict()
      .prefault({}),
    /** PEM bundle of the CAs to trust for the province (replaces the default roots). */
    caFile: File('province.caFile').optional(),
    /** Client certificate and key (PEM) where the province wants mutual TLS. */
    certFile: File('province.certFile').optional(),
    keyFile: File('province.keyFile').optional(),
    auth: ProvinceAuthSchema.default({ kind: 'none' }),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.transport === 'http' && !c.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'province.url is required when province.transport is http' });
    if (c.transport === 'mqtt' && !c.mqtt)
      ctx.addIssue({ code: 'custom', path: ['mqtt'], message: 'province.mqtt (urls, topic) is required when province.transport is mqtt' });
    if (!!c.certFile !== !!c.keyFile)
      ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'province.certFile and province.keyFile go together' });
    if (c.retry.maxMs < c.retry.baseMs)
      ctx.addIssue({ code: 'custom', path: ['retry', 'maxMs'], message: 'province.retry.maxMs must not be below retry.baseMs' });
  });
export type ProvinceConfig = z.infer<typeof ProvinceConfigSchema>;
export type ProvinceConfigInput = z.input<typeof ProvinceConfigSchema>;

/**
 * The hand-off destination: where a 差评 the hall cannot resolve is handed on (12345, a
 * department). Configured like the province (the same keys, its own profile and credentials) plus
 * its name; it has its own durable queue (forward_queue rows with destination "handoff").
 */
export const HandoffConfigSchema = z
  .object({
    /** Shown to staff and sent with each hand-off, e.g. "12345政务服务便民热线". */
    name: z.string().trim().min(1, 'handoff.name must name the destination (e.g. 12345)').max(64),
    destination: ProvinceConfigSchema,
  })
  .strict();
export type HandoffConfig = z.infer<typeof HandoffConfigSchema>;
export type HandoffConfigInput = z.input<typeof HandoffConfigSchema>;
