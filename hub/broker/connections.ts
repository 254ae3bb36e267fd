import type { Aedes, Client } from 'aedes';

/**
 * Which MQTT connection currently speaks for each device id. aedes lets a second
 * connection with the same client id take over (MQTT-3.1.4-2); the hub needs to know which
 * one is current so a superseded connection's last will cannot mark the device offline,
 * and so revoking a device can close its connection at once.
 */
export class Connections {
  private readonly current = new Map<string, Client>();

  constructor(private readonly aedes: () => Aedes) {}

  /** aedes keeps its clients by id; its typings leave the map out. */
  private clients(): Record<string, Client | undefined> {
    return (this.aedes() as unknown as { clients: Record<string, Client | undefined> }).clients;
  }

  /** Called when a connection has authenticated: it is now the one that speaks for its id. */
  authenticated(client: Client): void {
    this.current.set(client.id, client);
  }

  isCurrent(client: Client): boolean {
    return this.current.get(client.id) === client;
  }

  closed(client: Client): void {
    if (this.current.get(client.id) === client) this.current.delete(client.id);
  }

  isConnected(id: string): boolean {
    const c = this.clients()[id];
    return !!c && c.connected;
  }

  /** Closes whatever connection a device has (connected or still connecting). */
  disconnect(id: string): boolean {
    const clients = [this.clients()[id], this.current.get(id)].filter((c): c is Client => !!c);
    for (const c of new Set(clients)) c.close();
    return clients.length > 0;
  }
}
