import type { DeviceConfig } from '../../protocol/index.js';

/**
 * The QR payload offered with a 差评: the hall's feedback page, told which record the details
 * belong to (hall, device, record id) so the text written on a phone joins the right rating.
 * No citizen data goes in. Null when the hall has no feedback page.
 */
export function feedbackLink(config: Pick<DeviceConfig, 'feedbackUrl' | 'hall' | 'device'>, recordId: string): string | null {
  if (!config.feedbackUrl) return null;
  const url = new URL(config.feedbackUrl);
  url.searchParams.set('h', config.hall);
  url.searchParams.set('d', config.device);
  url.searchParams.set('r', recordId);
  return url.toString();
}
