import { existsSync } from 'node:fs';

/** systemd-timesyncd creates this file once the clock has been synchronised since boot. */
export const TIMESYNC_FILE = '/run/systemd/timesync/synchronized';

export type ClockSyncSetting = 'auto' | 'yes' | 'no';

/**
 * Whether the wall clock can be trusted. A Pi has no RTC: until NTP has synced after boot the
 * clock may be days off. "auto" looks for systemd-timesyncd's marker file (chrony users point
 * `file` at a file their chrony hook touches); "yes"/"no" force it. Checked at most every 5 s.
 */
export function clockSyncProbe(setting: ClockSyncSetting, file = TIMESYNC_FILE): () => boolean {
  if (setting !== 'auto') {
    const v = setting === 'yes';
    return () => v;
  }
  let last = 0;
  let synced = false;
  return () => {
    const now = Date.now();
    // Once synced it stays synced until reboot (the file lives in /run).
    if (!synced && now - last >= 5000) {
      last = now;
      synced = existsSync(file);
    }
    return synced;
  };
}
