import { execFile } from 'node:child_process';

/**
 * systemd's readiness and watchdog protocol, through the `systemd-notify` tool (Node has no
 * Unix datagram sockets). The unit needs Type=notify and NotifyAccess=all, because the message
 * comes from a child process. Outside systemd (no NOTIFY_SOCKET) this does nothing.
 */
export class SystemdNotifier {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly tool = 'systemd-notify',
  ) {}

  get active(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  private send(...args: string[]): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise((res) => execFile(this.tool, args, { env: this.env, timeout: 5000 }, () => res()));
  }

  /**
   * Says ready, then pings the watchdog at half its interval for as long as `healthy()` holds
   * (a stuck event loop or a broken outbox stops the pings, and systemd restarts the agent).
   */
  async ready(healthy: () => boolean): Promise<void> {
    await this.send('--ready', `--status=rating`);
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!(usec > 0)) return;
    this.timer = setInterval(
      () => {
        if (healthy()) void this.send('WATCHDOG=1');
      },
      Math.max(1000, usec / 2000),
    );
    this.timer.unref();
  }

  async stopping(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.send('--stopping');
  }
}
