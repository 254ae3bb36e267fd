/** The `haochaping hub` command line the benches start a hub with: loopback, the given ports, warnings only. */
export function benchHubArgs(o: { data: string; hall: string; mqttPort: number; httpPort: number }, ...extra: string[]): string[] {
  return [
    'hub',
    '--data',
    o.data,
    '--hall',
    o.hall,
    '--host',
    '127.0.0.1',
    '--mqtt-port',
    String(o.mqttPort),
    '--http-port',
    String(o.httpPort),
    '--log-level',
    'warn',
    ...extra,
  ];
}
