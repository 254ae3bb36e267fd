import { z } from 'zod';

const Window = z.object({ count: z.number().int().positive().max(10_000), windowS: z.number().int().positive().max(86_400) }).strict();

/** The citizen page, QR boards and the public results page (docs/citizen-channels.md). */
export const CitizenConfigSchema = z
  .object({
    /**
     * How long a receipt or rate-later QR stays usable, counted like the 7-day default from the
     * service (Ankang art. 11: 7 working days). null: until the session's default deadline.
     * Longer than the default period: a late QR rating then supersedes a default already sent.
     */
    period: z
      .object({
        unit: z.enum(['calendar-days', 'working-days'], 'citizen.period.unit must be "calendar-days" or "working-days"'),
        count: z.number().int().min(1).max(60),
      })
      .strict()
      .nullable()
      .default(null),
    limits: z
      .object({
        /** Requests for one QR link (page views and submissions). */
        perToken: Window.default({ count: 20, windowS: 600 }),
        /** Requests from one client address to the citizen pages (a hall's guest Wi-Fi shares one: keep it generous). */
        perAddress: Window.default({ count: 120, windowS: 600 }),
        /** Largest form body accepted (150 characters of text are at most ~2 KiB URL-encoded). */
        bodyBytes: z.number().int().min(512).max(65_536).default(4096),
      })
      .strict()
      .prefault({}),
    board: z
      .object({
        /**
         * What a window's QR board points to: 'hub' (the hub's page for the window, under the hall's
         * feedbackUrl) or the province's evaluation page as a template with {area}, {dept} and
         * {window} (e.g. "https://zwfw.example.gov.cn/hcp/eval?area={area}&dept={dept}&win={window}").
         */
        target: z
          .string()
          .max(500)
          .refine((t) => t === 'hub' || /^https?:\/\//.test(t), 'citizen.board.target must be "hub" or an http(s) URL template')
          .default('hub'),
      })
      .strict()
      .prefault({}),
    /** The public results page (公示) reloads itself this often. */
    resultsRefreshS: z.number().int().min(10).max(3600).default(60),
  })
  .strict();
export type CitizenConfig = z.infer<typeof CitizenConfigSchema>;
export type CitizenConfigInput = z.input<typeof CitizenConfigSchema>;
