// Owns: the clocks that times taken in two processes are compared on. Not here: what is timed.
// Invariant: a time read in the harness and one read in a server are only ever compared on the same kernel clock.
//
// performance.timeOrigin + performance.now() is a wall-clock reading taken when each process started, carried forward
// on the monotonic clock: two processes started minutes apart disagree by whatever the wall clock was adjusted in
// between (NTP, the VM's time sync), which is how a pickup came out at −0.38 ms. process.hrtime reads CLOCK_MONOTONIC,
// one counter for the whole machine, so the harness's send and a handler's start are read on the same clock.

/** CLOCK_MONOTONIC in milliseconds (µs precision): comparable between processes on one machine. */
export function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * CLOCK_REALTIME − CLOCK_MONOTONIC now, in ms, to µs: the moment Date.now() ticks to a new millisecond is read on the
 * monotonic clock (the median of five ticks). For comparing a harness time with a server's Date.now() stamp (the
 * stored finished_at), which is CLOCK_REALTIME in both processes; measured when used, so no adjustment falls between.
 */
export function realtimeOffsetMs(): number {
  const offsets: number[] = [];
  for (let i = 0; i < 5; i++) {
    const from = Date.now();
    let now = from;
    let mono = 0;
    while (now === from) {
      mono = monoNow();
      now = Date.now();
    }
    offsets.push(now - mono);
  }
  return offsets.sort((a, b) => a - b)[2]!;
}
