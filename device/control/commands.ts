/**
 * The simulator's control channel to a device process (`haochaping device run --control stdio`):
 * JSON lines. The simulator writes commands on the child's stdin (a citizen presses a button,
 * or — until the hub has a queue-system API — a session arrives); the child writes events on
 * its stdout. Events are written synchronously, so once the parent can read a `stored` line the
 * child has said it: a SIGKILL right after cannot take it back.
 */
import { z } from 'zod';
import { DeviceConfigSchema, SessionMessageSchema } from '../../protocol/index.js';

export const ControlCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('press'), button: z.number().int().nonnegative() }),
  /** Delivers a session message as if the hub had sent it (stand-in for the queue-system API). */
  z.object({ op: z.literal('session'), message: SessionMessageSchema }),
  /** Applies a config as if the hub had pushed it (stand-in for the staff/pause API). */
  z.object({ op: z.literal('config'), config: DeviceConfigSchema }),
  z.object({ op: z.literal('depth') }),
]);
export type ControlCommand = z.infer<typeof ControlCommandSchema>;

/** What the device says. Frames are passed through as the display received them. */
export type ControlEvent =
  | { ev: 'ready'; device: string; window: string; bootId: string; lastSeq: number; config: unknown }
  | {
      ev: 'stored';
      id: string;
      seq: number;
      kind: 'rating' | 'not-rated';
      level: number | null;
      reasons: string[];
      session: string | null;
      flags: string[];
    }
  | { ev: 'frame'; frame: unknown }
  | { ev: 'depth'; depth: number; lastSeq: number }
  | { ev: 'link'; connected: boolean }
  | { ev: 'error'; message: string };
