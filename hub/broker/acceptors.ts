/**
 * More accepts per turn of the event loop for a busy hub.
 *
 * Since libuv 1.45 (Node 20 ships 1.46) a listening socket accepts ONE connection each time the
 * event loop polls (libuv pull request #3696, "unix: don't accept() connections in a loop"). A
 * hub ingesting a backlog turns its loop a few times a second (each turn commits a batch and
 * reads every device's socket), so a hall's devices reconnecting after an outage were let in a
 * few a second: `bench:backlog` saw CONNACKs take 2–11 s and hundreds of devices give up and
 * back off (strace: one `accept4` per turn, never EAGAIN, the kernel's accept queue at 326).
 *
 * The fix keeps one socket but gives the event loop several watchers on it: each extra
 * `net.Server` listens on a duplicate of the same file descriptor, so every turn accepts up to
 * `count` connections. Node cannot dup a descriptor itself; passing a listening server to a
 * child process and back (child_process IPC, SCM_RIGHTS — the mechanism the cluster module
 * uses) returns a new descriptor for the same socket. The child lives only for this: any
 * connection it accepts meanwhile is sent straight back (nothing is dropped), then it exits.
 * Connections accepted by an extra watcher are handed to `primary` as its own ('connection'),
 * so TLS, the packet-size guard and aedes see no difference.
 *
 * Best effort: if the child cannot be started, the hub keeps its single acceptor and says so.
 */
import { spawn } from 'node:child_process';
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';

// The child: each listening handle goes straight back and the child's copy closes once it is
// sent. Node runs this handler before the child's event loop can poll the new handle, and a
// connection accepted before the close is not read (pauseOnConnect) and goes back as well, its
// first bytes (a CONNECT, a TLS ClientHello) still unread.
const CHILD = `process.on('message', (m, h) => {
  h.pauseOnConnect = true;
  h.on('connection', (s) => process.send('conn', s));
  process.send(m, h, () => h.close());
});`;

/** Returns the extra listening servers (not the primary); close them with it. */
export async function addAcceptors(primary: Server, count: number, log: Logger): Promise<Server[]> {
  const extra: Server[] = [];
  const handOver = (socket: Socket) => primary.emit('connection', socket);
  if (count <= 1) return extra;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
  } catch (e) {
    log.warn({ err: (e as Error).message }, 'one MQTT acceptor only: could not start the helper that duplicates the listening socket');
    return extra;
  }
  const failed = new Promise<Error>((res) => {
    child.once('error', res);
    child.once('exit', (code) => res(new Error(`helper exited (${code})`)));
  });
  child.on('message', (m, h) => {
    if (m === 'conn' && h) handOver(h as Socket);
  });
  try {
    for (let i = 1; i < count; i++) {
      const got = new Promise<Server>((res) => {
        const on = (m: unknown, h: unknown) => {
          if (m !== `dup-${i}`) return;
          child.off('message', on);
          res(h as Server);
        };
        child.on('message', on);
      });
      child.send(`dup-${i}`, primary);
      const s = await Promise.race([got, failed.then((e) => Promise.reject(e))]);
      s.on('connection', handOver);
      extra.push(s);
    }
  } catch (e) {
    log.warn({ err: (e as Error).message, acceptors: 1 + extra.length }, 'fewer MQTT acceptors than asked for');
  } finally {
    // Disconnected, it has nothing left and exits. Waited for: until it has, its copies of the
    // listening socket keep the port open after the broker closed (the kernel would still
    // complete handshakes nobody answers).
    if (child.connected) child.disconnect();
    const stuck = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await failed;
    clearTimeout(stuck);
  }
  return extra;
}
