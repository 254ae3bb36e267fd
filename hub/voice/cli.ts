/**
 * `haochaping hub voice list|set|rm`: the hall's own recordings of the spoken prompts, through
 * the hub's API. `set` uploads a WAV; every device fetches it and speaks it instead of its own
 * espeak-ng clip of that name; `rm` goes back to the device's clip.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VOICE_CLIP_NAMES } from '../../protocol/index.js';
import { HubApiError, type HubTarget } from '../cli/api-client.js';
import { api, run, target } from '../cli/commands.js';
import type { HallClip } from './hall-clips.js';

export function registerVoiceCommands(hub: Command): void {
  const voice = hub.command('voice').description(`the hall's own recordings of the spoken prompts (clips: ${VOICE_CLIP_NAMES.join(', ')})`);
  target(voice.command('list'))
    .description("list the hall's recordings (the other clips are each device's espeak-ng ones)")
    .action(
      run(async (o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ clips: HallClip[] }>('GET', '/api/voice/clips');
        if (o.json) return console.log(JSON.stringify(r));
        if (!r.clips.length) return console.log('no recordings: devices speak their own clips');
        for (const c of r.clips)
          console.log(`${c.name.padEnd(15)} ${c.seconds.toFixed(1).padStart(5)} s  ${String(c.bytes).padStart(8)} bytes  ${c.sha256}`);
      }),
    );
  target(voice.command('set <name> <wav>'))
    .description('upload a PCM WAV recording for one clip; every device fetches it and speaks it')
    .action(
      run(async (name: string, file: string, o: HubTarget & { json: boolean }) => {
        if (!(VOICE_CLIP_NAMES as readonly string[]).includes(name))
          throw new HubApiError(0, `no clip "${name}"; the clips are ${VOICE_CLIP_NAMES.join(', ')}`);
        let wav: Buffer;
        try {
          wav = readFileSync(file);
        } catch (e) {
          throw new HubApiError(0, `cannot read ${file}: ${(e as Error).message}`);
        }
        const r = await api(o).call<{ clip: HallClip; devices: number }>(
          'PUT',
          `/api/voice/clips/${encodeURIComponent(name)}`,
          wav,
          'audio/wav',
        );
        console.log(
          o.json ? JSON.stringify(r) : `${r.clip.name}: ${r.clip.seconds.toFixed(1)} s recording set; ${r.devices} device config(s) pushed`,
        );
      }),
    );
  target(voice.command('rm <name>'))
    .description("remove the hall's recording of a clip: devices speak their own again")
    .action(
      run(async (name: string, o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ devices: number }>('DELETE', `/api/voice/clips/${encodeURIComponent(name)}`);
        console.log(o.json ? JSON.stringify(r) : `${name}: recording removed; ${r.devices} device config(s) pushed`);
      }),
    );
}
