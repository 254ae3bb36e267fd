// firmata-io ships no types; the Firmata driver uses only its Board class with a transport.
declare module 'firmata-io' {
  const bindTransport: { (transport: unknown): unknown; Firmata: new (transport: unknown, options?: unknown) => unknown };
  export default bindTransport;
}
