/**
 * The hall's own voice recordings: hall IT lists, uploads (a WAV as the request body) and
 * removes them with an API token; a device fetches the ones its config names with its own
 * credentials (api/device-auth.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VOICE_CLIP_NAMES } from '../../protocol/index.js';
import { authenticatedDevice } from '../api/device-auth.js';
import { HttpError } from '../../common/errors.js';
import { useZod, type ApiDeps } from '../api/server.js';
import { MAX_CLIP_BYTES, type HallVoiceClips } from './hall-clips.js';

const NameParams = z.object({ name: z.enum(VOICE_CLIP_NAMES) });
const ShaParams = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });
export function voiceRoutes(clips: HallVoiceClips) {
  return async function routes(app: FastifyInstance, d: ApiDeps): Promise<void> {
    useZod(app);
    // A recording is the request body as it is (audio/wav); anything else is refused by Fastify with 415.
    app.addContentTypeParser(
      ['audio/wav', 'audio/x-wav', 'audio/wave'],
      { parseAs: 'buffer', bodyLimit: MAX_CLIP_BYTES },
      (_req, body, done) => done(null, body),
    );
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/api/voice/clips',
      {
        onRequest: d.allow('viewer'),
        schema: { summary: "The hall's own voice recordings, by clip name (the devices' espeak-ng clips for the others)" },
      },
      async () => ({ names: VOICE_CLIP_NAMES, clips: clips.list() }),
    );

    r.put(
      '/api/voice/clips/:name',
      {
        onRequest: d.allow('admin'),
        bodyLimit: MAX_CLIP_BYTES,
        schema: {
          params: NameParams,
          summary: "Upload the hall's recording of one clip (body: a PCM WAV file, Content-Type audio/wav); every device gets it",
        },
      },
      async (req) => {
        if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'not-wav', 'send the recording as the body with Content-Type: audio/wav');
        const { clip, devices } = clips.set(req.params.name, req.body);
        d.log.info({ clip: clip.name, sha256: clip.sha256, seconds: clip.seconds, devices }, 'hall voice recording set');
        return { clip, devices };
      },
    );

    r.delete(
      '/api/voice/clips/:name',
      {
        onRequest: d.allow('admin'),
        schema: { params: NameParams, summary: "Remove the hall's recording of a clip: devices speak their own again" },
      },
      async (req) => clips.remove(req.params.name),
    );

    // No API token: the device proves itself (HTTP Basic with its id and secret) before anything is read.
    r.get(
      '/api/device/voice/:sha256',
      {
        schema: {
          params: ShaParams,
          summary: "One of the hall's recordings, for a device (HTTP Basic: device id and secret)",
          security: [],
        },
      },
      async (req, reply) => {
        if (!(await authenticatedDevice(req, reply, d.registry))) return reply;
        const wav = clips.wav(req.params.sha256);
        if (!wav) throw new HttpError(404, 'not-found', 'the hall has no such recording');
        return reply.header('content-type', 'audio/wav').header('cache-control', 'no-store').send(wav);
      },
    );
  };
}
