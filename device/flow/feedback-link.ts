import type { DeviceConfig } from '../../protocol/index.js';
import { rateLaterLink, receiptLink } from '../../common/receipt-link.js';

type LinkConfig = Pick<DeviceConfig, 'feedbackUrl' | 'hall' | 'device' | 'receiptKey'>;

/**
 * The QR payload offered with a 差评: the hub's citizen page for this record, signed with the
 * device's receipt key so only a real receipt opens it (docs/citizen-channels.md). No citizen
 * data goes in. Null when the hall has no feedback page or the hub gave no key (a link the hub
 * cannot verify would only lead to an error page).
 */
export function feedbackLink(config: LinkConfig, recordId: string): string | null {
  if (!config.feedbackUrl || !config.receiptKey) return null;
  return receiptLink(config.feedbackUrl, config.receiptKey, recordId);
}

/** The "scan to rate later" QR of an open session, on the prompt; null as for feedbackLink. */
export function rateLaterQr(config: LinkConfig, sessionId: string): string | null {
  if (!config.feedbackUrl || !config.receiptKey) return null;
  return rateLaterLink(config.feedbackUrl, config.receiptKey, config.device, sessionId);
}
