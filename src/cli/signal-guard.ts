/**
 * Imported first by the CLI, before any other module runs: a process with a SIGUSR1 listener
 * does not start Node's inspector (which SIGUSR1 otherwise opens on 127.0.0.1:9229 with no
 * authentication). airgate uses SIGUSR1 for logrotate; `serve` adds the listener that reopens
 * the log files, this one only keeps the inspector shut from the first instant.
 */
process.on('SIGUSR1', keepInspectorClosed);

function keepInspectorClosed(): void {
  // Nothing to do: the listener's presence is the point.
}
