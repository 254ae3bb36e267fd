/**
 * V8 flags for the agent, set at run time because NODE_OPTIONS refuses them. bin/main.ts imports
 * this before it fetches the agent's module graph: a flag holds only for what is compiled after
 * it, and resolving, loading and linking some 300 modules is hot enough for TurboFan (set here
 * after that graph had loaded, --no-opt saved ~2 MiB; set before it, ~7 MiB: issue 14, measured
 * with bench/device-latency.ts). An evaluator handles a press every few seconds at most; none
 * of its code is ever hot, so neither the optimising compiler (TurboFan) nor the baseline one
 * (Sparkplug) earns the code and compiler pages it costs on a 512 MB Pi. The semi-space size
 * cannot be set this way: that one is NODE_OPTIONS in the device's systemd unit (see
 * common/install/units.ts).
 */
import v8 from 'node:v8';

v8.setFlagsFromString('--no-opt');
v8.setFlagsFromString('--no-sparkplug');
// For test/cli/device-modules.test.ts: the moment from which no function may be marked for
// TurboFan (Node's own start-up, before this runs, is out of reach of any runtime flag).
if (process.env.HCP_V8_FLAGS_MARK) process.stderr.write('hcp: v8 flags set\n');
