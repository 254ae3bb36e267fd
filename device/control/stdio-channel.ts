/**
 * The device end of the control channel: runs inside `haochaping device run --control stdio`,
 * next to the real agent with virtual buttons and a virtual display. It only observes the
 * agent through its public events and presses its virtual buttons — the rating path is the
 * agent's own, unchanged.
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Agent } from '../agent.js';
import type { VirtualButtons } from '../buttons/virtual.js';
import { ControlCommandSchema, type ControlEvent } from './commands.js';

export interface ControlChannel {
  /** Call after agent.start(): from now on presses count. */
  ready(): void;
  close(): void;
}

/** Writes one event line with a blocking write: it is in the pipe before the agent goes on. */
function writer(fd: number): (e: ControlEvent) => void {
  return (e) => {
    const line = JSON.stringify(e) + '\n';
    try {
      writeSync(fd, line);
    } catch {
      /* the simulator went away; the agent keeps running like a device nobody watches */
    }
  };
}

export function attachControl(
  agent: Agent,
  buttons: VirtualButtons,
  input: NodeJS.ReadableStream = process.stdin,
  outFd = 1,
): ControlChannel {
  const send = writer(outFd);
  let lastDepth = -1;
  const depth = (force = false) => {
    const s = agent.outbox.stats();
    if (force || s.depth !== lastDepth) send({ ev: 'depth', depth: s.depth, lastSeq: s.lastSeq });
    lastDepth = s.depth;
  };

  // `stored` fires after the commit and before the thank-you frame: the order the parent sees.
  agent.on('stored', (r) =>
    send({
      ev: 'stored',
      id: r.id,
      seq: r.seq,
      kind: r.kind,
      level: r.level,
      reasons: r.reasons,
      session: r.session?.id ?? null,
      flags: r.flags,
    }),
  );
  agent.on('frame', (frame) => send({ ev: 'frame', frame }));
  agent.link.on('connected', () => send({ ev: 'link', connected: true }));
  agent.link.on('disconnected', () => send({ ev: 'link', connected: false }));
  agent.link.on('acked', () => depth());

  const lines = createInterface({ input });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let parsed;
    try {
      parsed = ControlCommandSchema.safeParse(JSON.parse(line));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) return send({ ev: 'error', message: `not a control command: ${line.slice(0, 200)}` });
    const c = parsed.data;
    try {
      if (c.op === 'press') buttons.press(c.button);
      else if (c.op === 'session') agent.link.emit('session', c.message);
      else if (c.op === 'config') agent.link.emit('config', c.config);
      else depth(true);
    } catch (e) {
      send({ ev: 'error', message: (e as Error).message });
    }
  });
  // The simulator closing our stdin means it is gone: stop like a device switched off cleanly.
  lines.on('close', () => process.kill(process.pid, 'SIGTERM'));

  const timer = setInterval(() => depth(), 1000);
  timer.unref();
  return {
    ready() {
      const e = agent.enrolment;
      send({
        ev: 'ready',
        device: e.device,
        window: agent.currentConfig.window,
        bootId: agent.bootId,
        lastSeq: agent.outbox.head().seq,
        config: agent.currentConfig,
      });
      depth(true);
    },
    close() {
      clearInterval(timer);
      lines.close();
    },
  };
}
