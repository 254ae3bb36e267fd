/**
 * An evaluator running inside the simulator's own process: the real agent with virtual buttons
 * and a virtual display. Light enough for hundreds of devices and for the interactive mode;
 * chaos mode uses ChildDevice instead, so that kills are real.
 */
import type { Logger } from 'pino';
import { Agent, type AgentOptions } from '../../device/agent.js';
import { VirtualButtons } from '../../device/buttons/virtual.js';
import { VirtualDisplay } from '../../device/display/virtual.js';
import type { DeviceConfig, SessionMessage } from '../../protocol/index.js';
import { SimDevice } from './sim-device.js';

export class InProcessDevice extends SimDevice {
  agent: Agent | null = null;
  private buttons: VirtualButtons | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    id: string,
    window: string,
    dir: string,
    private readonly log: Logger,
    private readonly link: AgentOptions['link'] = {},
  ) {
    super(id, window, dir);
  }

  get alive(): boolean {
    return this.agent !== null;
  }

  async start(): Promise<void> {
    if (this.agent) return;
    const buttons = new VirtualButtons(5);
    const display = new VirtualDisplay(20);
    const agent = Agent.open({ dataDir: this.dir, buttons, display, log: this.log, clockSynced: () => true, link: this.link });
    agent.on('stored', (r) =>
      this.onStored({
        device: this.id,
        id: r.id,
        seq: r.seq,
        kind: r.kind,
        level: r.level,
        reasons: r.reasons,
        session: r.session?.id ?? null,
        flags: r.flags,
      }),
    );
    agent.on('frame', (f) => this.onFrame(f));
    agent.link.on('connected', () => (this.connected = true));
    agent.link.on('disconnected', () => (this.connected = false));
    agent.link.on('config', (c) => (this.config = c));
    this.config = agent.currentConfig;
    this.lastSeq = agent.outbox.head().seq;
    await agent.start();
    this.agent = agent;
    this.buttons = buttons;
    this.timer = setInterval(() => (this.depth = agent.outbox.depth()), 500);
    this.emit('up');
  }

  press(i: number): boolean {
    if (!this.buttons) return false;
    this.buttons.press(i);
    return true;
  }

  deliverSession(m: SessionMessage): boolean {
    if (!this.agent) return false;
    this.agent.link.emit('session', m);
    return true;
  }

  deliverConfig(c: DeviceConfig): boolean {
    if (!this.agent) return false;
    this.agent.link.emit('config', c);
    return true;
  }

  async stop(): Promise<void> {
    const a = this.agent;
    if (!a) return;
    if (this.timer) clearInterval(this.timer);
    this.depth = a.outbox.depth();
    this.agent = null;
    this.buttons = null;
    await a.stop();
    this.onDown('stopped');
  }
}
