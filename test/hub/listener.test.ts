/** Facts about the hub's listeners, on their own: loopback, the local URL, the CA fingerprint and its forms. */
import { describe, expect, it } from 'vitest';
import { fingerprintOf, formatFingerprint, normalizeFingerprint } from '../../device/enrolment/pinned-https.js';
import { makeHallPki } from '../../hub/tls/hall-ca.js';
import { caFingerprint, isLoopback, localUrl } from '../../hub/tls/listener.js';

describe('listener facts', () => {
  it('only loopback addresses count as loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.1.2.3', 'hub.hall.local', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  it('a hub listening on every address is reached on loopback from its own machine', () => {
    expect(localUrl(true, '0.0.0.0', 8080)).toBe('https://127.0.0.1:8080');
    expect(localUrl(false, '::', 8080)).toBe('http://[::1]:8080');
    expect(localUrl(true, '10.1.2.3', 443)).toBe('https://10.1.2.3:443');
  });

  it('the hub and the device compute the same CA fingerprint as tls init prints, in either written form', async () => {
    const pki = await makeHallPki({ hall: 'h', hosts: ['hub.hall.local'] });
    expect(caFingerprint(pki.caCert)).toBe(pki.caFingerprint);
    expect(formatFingerprint(fingerprintOf(pki.caCert)!)).toBe(pki.caFingerprint);
    expect(normalizeFingerprint(pki.caFingerprint.toLowerCase().replaceAll(':', ''))).toBe(fingerprintOf(pki.caCert));
    expect(fingerprintOf('not a certificate')).toBeNull();
    expect(() => normalizeFingerprint('AB:CD')).toThrow(/64 hex digits/);
  });
});
