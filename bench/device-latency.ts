/**
 * Device benchmarks (npm run bench:device), each beside its baseline measured in the same run:
 *
 *  1. press → durable write → thank-you inside the agent (virtual buttons, real outbox, a hub
 *     process connected), against a bare better-sqlite3 insert of a record-sized row with WAL and
 *     synchronous=FULL, one row per transaction, on the same disk. Two pacings, in alternating
 *     blocks: "paced" presses as section 2 does (the next press after the thank-you and one turn
 *     of the event loop, so the link's delivery — publish, the hub storing it, the ack marked —
 *     runs between presses, as it does in the agent process), the figure section 2 is compared
 *     with; and "back to back" (presses in one synchronous loop, delivery only every 50 presses:
 *     the row this bench reported before, which timed presses with no delivery work between them);
 *  2. the same end to end through a real agent process: a press written to the serial
 *     keypad's pty until the thank-you frame arrives on the display controller's pty, with the CPU
 *     time the agent and hub processes spent per press;
 *  4. the same ptys with an echo process in place of the agent (its serial line code): what
 *     the path itself costs;
 *  1, 2 and 4 again "idle": --pause-ms (20) after each thank-you before the next press, so every
 *     press finds the previous record delivered and the processes idle, as a citizen's does;
 *  3. the agent process's resident memory 5 s after its first prompt, idle (30 s after it, once
 *     V8's memory reducer has run) and while rating as fast as presses come.
 *
 * Prints one table and a JSON line. Options: --presses N (default 2000), --pause-ms N (default 20).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { Agent, FIRMWARE_VERSION } from '../device/agent.js';
import { VirtualButtons } from '../device/buttons/virtual.js';
import type { DisplayDriver } from '../device/display/types.js';
import { enrol } from '../device/enrolment/enrolment.js';
import { ADMIN_TOKEN_FILE } from '../hub/hub.js';
import { CLI_PATH, freePort, spawnCli, stopProcess, waitHttpOk } from '../simulator/processes.js';
import { DEVICE_NODE_OPTIONS } from '../common/install/units.js';
import { benchHubArgs } from './hub-args.js';
import { percentile } from './stats.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const PRESSES = arg('--presses', 2000);
/**
 * Section 4's stand-in for the agent: each keypad line straight back as a thank-you frame,
 * through the agent's own serial code (device/serial/serial-line.ts, given as the first argument).
 */
const SERIAL_ECHO = `
const [lineModule, kp, dp] = process.argv.slice(-3);
const { SerialLine } = await import(lineModule);
const display = new SerialLine({ path: dp, baudRate: 115200 });
const keypad = new SerialLine({ path: kp, baudRate: 115200 });
await display.start();
await keypad.start();
let n = 0;
keypad.on('line', () => display.write('FRAME ' + ++n + ' thanks\\nEND ' + n));
process.stdout.write('ready\\n');
`;
const PROCESS_PRESSES = Math.min(PRESSES, 500);
/**
 * "Idle" rows: this long after each thank-you before the next press, in the agent and through
 * the process alike, so each press finds the previous record delivered (published, stored by the
 * hub, its ack marked) and the processes idle, as a citizen's press does (seconds apart). Without
 * it the next press through the process lands in the previous record's delivery.
 */
const PAUSE_MS = arg('--pause-ms', 20);

const ms = (ns: bigint) => Number(ns) / 1e6;
const round = (x: number) => Math.round(x * 1000) / 1000;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** A bare better-sqlite3 table, WAL, synchronous=FULL: one row per transaction, timed. */
function bareInserter(dir: string): { insert(bytes: number): number; close(): void } {
  const db = new Database(join(dir, 'bare.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (seq, body) VALUES (?, ?)');
  let seq = 0;
  return {
    insert: (bytes) => {
      const body = 'x'.repeat(bytes);
      const t0 = process.hrtime.bigint();
      db.transaction(() => ins.run(++seq, body)).immediate();
      return ms(process.hrtime.bigint() - t0);
    },
    close: () => db.close(),
  };
}

/** User + system CPU time a process has used, ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hcp-bench-'));
  const log = pino({ level: 'silent' });
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  // The hub as its own process, as in a hall: in this process its synchronous group commits
  // would hold up the event loop that timestamps the thank-you frames (section 2).
  const hub = spawnCli(benchHubArgs({ data: join(dir, 'hub'), hall: 'bench', mqttPort, httpPort }), join(dir, 'hub.log'));
  const hubUrl = `http://127.0.0.1:${httpPort}`;
  await waitHttpOk(`${hubUrl}/api/health`, 60_000, hub);
  const admin = readFileSync(join(dir, 'hub', ADMIN_TOKEN_FILE), 'utf8').trim();
  const newDevice = async (window: string) => {
    const r = await fetch(`${hubUrl}/api/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ window, settings: { mode: 'walk-up', timeouts: { repeatIntervalS: 0, tooSoonS: 0, thanksS: 0.2 } } }),
    });
    if (!r.ok) throw new Error(`registering window ${window}: ${r.status} ${await r.text()}`);
    const { device, token } = (await r.json()) as { device: { id: string }; token: string };
    const d = join(dir, device.id);
    mkdirSync(d, { recursive: true });
    await enrol(d, hubUrl, token, FIRMWARE_VERSION);
    return d;
  };
  try {
    // 1. In the agent.
    const buttons = new VirtualButtons(5);
    let pressedAt = 0n;
    const inAgent: number[] = [];
    const paced: number[] = [];
    const idleInAgent: number[] = [];
    const display: DisplayDriver = {
      name: 'timer',
      start: async () => {},
      stop: async () => {},
      show: (f) => {
        if (f.screen === 'thanks') inAgent.push(ms(process.hrtime.bigint() - pressedAt));
      },
    };
    const agent = Agent.open({ dataDir: await newDevice('01'), buttons, display, log, clockSynced: () => true });
    let bytes = 0;
    agent.on('stored', (r) => (bytes = JSON.stringify(r).length));
    await agent.start();
    while (!agent.link.connected) await sleep(20);
    // Interleaved in blocks of 50, so all three see the same disk (it is shared and noisy here).
    const bareDb = bareInserter(dir);
    const bare: number[] = [];
    const backToBack: number[] = [];
    const turn = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < PRESSES; i += 50) {
      const block = Math.min(50, PRESSES - i);
      // Back to back: the next press as soon as the last thank-you is shown, in the same
      // synchronous loop; the records are published, but acks are only read at the pause.
      inAgent.length = 0;
      for (let k = 0; k < block; k++) {
        pressedAt = process.hrtime.bigint();
        buttons.press(k % 3); // good levels: no reasons screen in the way
      }
      backToBack.push(...inAgent.splice(0));
      await sleep(1); // let acks come back, as between real citizens
      for (let k = 0; k < block; k++) bare.push(bareDb.insert(bytes));
      // Paced as through the process: one turn of the event loop between the thank-you and the
      // next press, so the previous record's delivery (its publish, the hub's store and ack,
      // the ack's mark) overlaps the next press as it does in section 2.
      for (let k = 0; k < block; k++) {
        pressedAt = process.hrtime.bigint();
        buttons.press(k % 3);
        await turn();
      }
      paced.push(...inAgent.splice(0));
      await sleep(1);
      // Idle: PAUSE_MS after each thank-you (as many presses in all as through the process).
      for (let k = 0; k < Math.ceil(PROCESS_PRESSES / Math.ceil(PRESSES / 50)) && idleInAgent.length < PROCESS_PRESSES; k++) {
        await sleep(PAUSE_MS);
        pressedAt = process.hrtime.bigint();
        buttons.press(k % 3);
        idleInAgent.push(...inAgent.splice(0));
      }
    }
    await agent.stop();
    bareDb.close();

    // 2 and 3. A real agent process behind ptys.
    // The agent's side of each link is a real pty (socat's); the bench's side is socat's own
    // stdin and stdout (pipes), as a USB-serial adapter's far end is the keypad's firmware, not a
    // second tty. A pty pair on both sides put two tty flip-buffer hand-offs (kernel work items)
    // and a second pty's read into every press, which is the harness, not the agent.
    const links = { kd: join(dir, 'kp-dev'), dd: join(dir, 'dp-dev') };
    const socats = [links.kd, links.dd].map((l) =>
      spawn('socat', ['-b', '4096', `pty,raw,echo=0,link=${l}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    while (!Object.values(links).every(existsSync)) await sleep(10);
    const keypad = socats[0]!.stdin!;
    const panel = socats[1]!.stdout!;
    let onThanks: () => void = () => {};
    /** PROCESS_PRESSES presses through whatever process serves the ptys, PAUSE_MS after each thank-you. */
    const pressIdle = async (): Promise<{ ms: number[] }> => {
      const out: number[] = [];
      for (let i = 0; i < PROCESS_PRESSES; i++) {
        await sleep(PAUSE_MS);
        const t0 = process.hrtime.bigint();
        const thanked = new Promise<void>((r) => (onThanks = r));
        keypad.write(`K${(i % 3) + 1}\n`);
        await thanked;
        out.push(ms(process.hrtime.bigint() - t0));
      }
      return { ms: out };
    };
    let prompts = 0;
    let buf = '';
    panel.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (/^FRAME \d+ thanks$/.test(l)) onThanks();
        if (/^FRAME \d+ prompt$/.test(l)) prompts++;
      }
    });
    const child = spawn(
      process.execPath,
      [
        CLI_PATH,
        'device',
        'run',
        '--data',
        await newDevice('02'),
        '--buttons',
        'serial',
        '--keypad-port',
        links.kd,
        '--keypad-baud',
        '115200',
        '--display',
        'serial',
        '--display-port',
        links.dd,
        '--clock-synced',
        'yes',
        '--log-level',
        'warn',
      ],
      // Started as its systemd unit starts it (common/install/units.ts: NODE_OPTIONS).
      { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: DEVICE_NODE_OPTIONS } },
    );
    const spawnedAt = performance.now();
    while (prompts === 0) await sleep(5);
    // Start to ready: from the spawn to the first prompt frame on the display (buttons, outbox, display up).
    const readyMs = performance.now() - spawnedAt;
    await sleep(5000);
    const rssAfterStart = rssKiB(child.pid!);
    // Idle: V8's memory reducer returns the start-up garbage and most of the young generation
    // once allocation has been quiet for a while (its first check is 8 s after the process
    // started, then again every 8 s); here that was 15-30 s after the prompt, so 5 s is not idle.
    await sleep(25_000);
    const rssIdle = rssKiB(child.pid!);
    const endToEnd: number[] = [];
    let rssLoad = 0;
    const [agentCpu0, hubCpu0, wall0] = [cpuMs(child.pid!), cpuMs(hub.pid!), performance.now()];
    for (let i = 0; i < PROCESS_PRESSES; i++) {
      const t0 = process.hrtime.bigint();
      const thanked = new Promise<void>((r) => (onThanks = r));
      keypad.write(`K${(i % 3) + 1}\n`);
      await thanked;
      endToEnd.push(ms(process.hrtime.bigint() - t0));
      if (i % 50 === 0) rssLoad = Math.max(rssLoad, rssKiB(child.pid!));
    }
    rssLoad = Math.max(rssLoad, rssKiB(child.pid!));
    const perPress = (x: number) => round(x / PROCESS_PRESSES);
    const processCpu = {
      agentMsPerPress: perPress(cpuMs(child.pid!) - agentCpu0),
      hubMsPerPress: perPress(cpuMs(hub.pid!) - hubCpu0),
      wallMsPerPress: perPress(performance.now() - wall0),
    };
    const idleProcess = await pressIdle();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    // 4. The same ptys with a process that only echoes each keypad line to the display as a
    //    thank-you frame (through the agent's serial line code): what the path costs by itself.
    const echo = spawn(
      process.execPath,
      ['--input-type=module', '-e', SERIAL_ECHO, new URL('../device/serial/serial-line.js', import.meta.url).href, links.kd, links.dd],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, NODE_OPTIONS: DEVICE_NODE_OPTIONS },
      },
    );
    await new Promise<void>((r) => echo.stdout!.once('data', () => r()));
    const echoPath: number[] = [];
    const echoCpu0 = cpuMs(echo.pid!);
    for (let i = 0; i < PROCESS_PRESSES; i++) {
      const t0 = process.hrtime.bigint();
      const thanked = new Promise<void>((r) => (onThanks = r));
      keypad.write(`K${(i % 3) + 1}\n`);
      await thanked;
      echoPath.push(ms(process.hrtime.bigint() - t0));
    }
    const echoCpuMsPerPress = round((cpuMs(echo.pid!) - echoCpu0) / PROCESS_PRESSES);
    const idleEcho = await pressIdle();
    echo.kill('SIGTERM');
    await new Promise((r) => echo.once('exit', r));
    for (const s of socats) s.kill();

    const row = (name: string, xs: number[]) => ({
      name,
      n: xs.length,
      medianMs: round(percentile(xs, 50)),
      p99Ms: round(percentile(xs, 99)),
    });
    const results = {
      recordBytes: bytes,
      bareInsertFullSync: row('bare better-sqlite3 insert, WAL, synchronous=FULL (baseline)', bare),
      pressToThanksInAgent: row('press → durable → thank-you, in the agent (paced)', paced),
      pressToThanksInAgentBackToBack: row('  the same, back to back (no delivery between presses)', backToBack),
      pressToThanksProcess: row('keypad pty → agent process → thank-you on display pty', endToEnd),
      serialEchoProcess: row('keypad pty → echo process (no agent) → frame on display pty', echoPath),
      pressToThanksInAgentIdle: row(`idle (${PAUSE_MS} ms after each thank-you): in the agent`, idleInAgent),
      pressToThanksProcessIdle: row('  through the agent process', idleProcess.ms),
      serialEchoProcessIdle: row('  through the echo process', idleEcho.ms),
      cpuPerPress: { ...processCpu, echoMsPerPress: echoCpuMsPerPress },
      rssAfterStartMiB: round(rssAfterStart / 1024),
      rssIdleMiB: round(rssIdle / 1024),
      rssUnderLoadMiB: round(rssLoad / 1024),
      startToReadyMs: Math.round(readyMs),
    };
    const w = 62;
    console.log(`record size ${bytes} bytes; ${PRESSES} presses in the agent, ${PROCESS_PRESSES} through the process`);
    for (const r of [
      results.bareInsertFullSync,
      results.pressToThanksInAgent,
      results.pressToThanksInAgentBackToBack,
      results.pressToThanksProcess,
      results.serialEchoProcess,
      results.pressToThanksInAgentIdle,
      results.pressToThanksProcessIdle,
      results.serialEchoProcessIdle,
    ]) {
      console.log(`${r.name.padEnd(w)} median ${r.medianMs.toFixed(3).padStart(7)} ms   p99 ${r.p99Ms.toFixed(3).padStart(7)} ms`);
    }
    const c = results.cpuPerPress;
    console.log(
      `${'CPU per press through the process: agent / hub / echo'.padEnd(w)} ${c.agentMsPerPress} / ${c.hubMsPerPress} / ${c.echoMsPerPress} ms (wall ${c.wallMsPerPress} ms)`,
    );
    console.log(`${'agent process resident memory, 5 s after the prompt'.padEnd(w)} ${results.rssAfterStartMiB.toFixed(1)} MiB`);
    console.log(`${'agent process resident memory, idle (30 s after the prompt)'.padEnd(w)} ${results.rssIdleMiB.toFixed(1)} MiB`);
    console.log(`${'agent process resident memory, under load'.padEnd(w)} ${results.rssUnderLoadMiB.toFixed(1)} MiB`);
    console.log(`${'agent process start to first prompt'.padEnd(w)} ${results.startToReadyMs} ms`);
    console.log(JSON.stringify(results));
  } finally {
    await stopProcess(hub, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
