/**
 * Imported first by bin/cli/device.ts, before the agent's code loads: no optimising compiler
 * (TurboFan) in the agent. An evaluator handles a press every few seconds at most; the code
 * TurboFan would optimise is never hot, and its compile buffers cost ~7 MiB of resident memory
 * on a 512 MB Pi (issue 14: measured by bench/device-latency.ts). V8 reads this flag whenever it
 * considers optimising, so setting it at run time works (semi-space size does not: that one is
 * NODE_OPTIONS in the device's systemd unit, see common/install/units.ts).
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--no-opt');
