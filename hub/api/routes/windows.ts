import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StaffSchema } from '../../../protocol/index.js';
import { useZod, type ApiDeps } from '../server.js';

const WindowParams = z.object({ window: z.string().min(1).max(32) });
const StaffBody = StaffSchema.extend({
  number: StaffSchema.shape.number.optional().default(null),
  photo: StaffSchema.shape.photo.optional().default(null),
}).describe('the staff member now on duty: shown on the device (信息牌) and put on its ratings');

/**
 * Windows as the queue system sees them: who is on duty (log in / log out) and whether the
 * window is open (pause / resume). Each change goes to every device at the window as a new
 * config version (retained, so a device that reconnects gets it too).
 */
export async function windowsRoutes(app: FastifyInstance, d: ApiDeps): Promise<void> {
  useZod(app);
  const r = app.withTypeProvider<ZodTypeProvider>();
  const opts = (summary: string, body?: z.ZodType) => ({
    onRequest: d.allow('queue-system'),
    schema: { params: WindowParams, summary, ...(body ? { body } : {}) },
  });

  r.put('/api/windows/:window/staff', opts('Staff member logs in at a window', StaffBody), async (req) => ({
    devices: d.ops.updateWindow(req.params.window, { staff: StaffBody.parse(req.body) }),
  }));
  r.delete('/api/windows/:window/staff', opts('Staff member logs out of a window'), async (req) => ({
    devices: d.ops.updateWindow(req.params.window, { staff: null }),
  }));
  r.post(
    '/api/windows/:window/pause',
    opts('Pause a window (closed, break): its devices show "paused" and take no ratings'),
    async (req) => ({ devices: d.ops.updateWindow(req.params.window, { paused: true }) }),
  );
  r.post('/api/windows/:window/resume', opts('Resume a paused window'), async (req) => ({
    devices: d.ops.updateWindow(req.params.window, { paused: false }),
  }));
}
