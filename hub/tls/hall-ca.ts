/**
 * A hall CA and the hub's server certificate, for halls without a PKI of their own
 * (`haochaping hub tls init`). ECDSA P-256, made with node's WebCrypto through @peculiar/x509:
 * no openssl binary, no shelling out. The CA key signs the server certificate and is then
 * only needed again to renew it: keep it offline. Devices get the CA certificate at enrolment
 * and verify the hub against it; the server certificate names every host name and address
 * devices use to reach the hub.
 */
// @peculiar/x509 resolves its ASN.1 handlers through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const crypto = webcrypto;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface HallPki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** SHA-256 fingerprint of the CA certificate, for checking it by eye. */
  caFingerprint: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Escapes a value for an X.500 name string (RFC 4514). */
const dn = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');

export async function makeHallPki(o: { hall: string; hosts: string[]; days?: number; now?: Date }): Promise<HallPki> {
  if (o.hosts.length === 0) throw new Error('name at least one host name or address devices use to reach the hub (--host)');
  const notBefore = new Date((o.now ?? new Date()).getTime() - 5 * 60_000); // a device clock a little behind still accepts it
  const days = o.days ?? 3650;
  const caKeys = await keyPair();
  const caNotAfter = new Date(notBefore.getTime() + (days + 365) * 86_400_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(12)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${dn(`haochaping hall CA ${o.hall}`)}, O=${dn(o.hall)}`,
    notBefore,
    notAfter: caNotAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await keyPair();
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(12)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    subject: `CN=${dn(o.hosts[0]!)}, O=${dn(o.hall)}`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * 86_400_000),
    signingKey: caKeys.privateKey,
    publicKey: serverKeys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // Loopback too: hall IT's commands on the hub machine reach it at 127.0.0.1 (hub.url).
      new x509.SubjectAlternativeNameExtension(
        [...new Set([...o.hosts, 'localhost', '127.0.0.1'])].map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
    ],
  });
  const fp = Buffer.from(await ca.getThumbprint('SHA-256'))
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
  return {
    caCert: ca.toString('pem') + '\n',
    caKey: pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', caKeys.privateKey)),
    serverCert: server.toString('pem') + '\n',
    serverKey: pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', serverKeys.privateKey)),
    caFingerprint: fp,
  };
}
