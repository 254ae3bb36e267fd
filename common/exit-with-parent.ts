/**
 * A process the simulator starts in a process group of its own (so that a Ctrl-C in the
 * terminal, which signals the whole foreground group, reaches only the simulator, which then
 * stops its children in order) must still not outlive the simulator when that is SIGKILLed.
 * Linux has no portable "die with my parent" for Node, so the parent holds the write end of the
 * child's stdin: when the parent dies the kernel closes it, the child reads end-of-file and
 * stops itself as on SIGTERM. Off unless the parent asks for it through the environment, so a
 * hub under systemd (stdin /dev/null) is not affected.
 */
export const EXIT_WITH_PARENT_ENV = 'HCP_EXIT_WITH_PARENT';

/** Call once a SIGTERM handler is in place. */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env, input: NodeJS.ReadStream = process.stdin): void {
  if (env[EXIT_WITH_PARENT_ENV] !== 'stdin') return;
  let done = false;
  const gone = () => {
    if (done) return;
    done = true;
    process.kill(process.pid, 'SIGTERM');
  };
  input.on('error', gone);
  input.on('end', gone);
  input.on('close', gone);
  input.on('data', () => {}); // what the parent writes (nothing) is not read as commands
  input.resume();
}
