/**
 * Wait until `condition()` holds, checking after each turn of the event loop; fail after
 * `timeoutMs`. Used to wait for an observable effect, never for a fixed time.
 */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
