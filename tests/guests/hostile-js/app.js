// A hostile policy in JavaScript, for the tests: the device id picks the
// attack. `loop` never returns, `bomb` allocates until memory runs out; any
// other device is allowed.

function decide(id) {
  if (id === "loop") {
    let n = 0;
    for (;;) n++;
  }
  if (id === "bomb") {
    const hoard = [];
    for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
  }
  return { tag: "allow" };
}

// Each id of a batch is a span of its text, in UTF-8 bytes.
function batchIds(batch) {
  const bytes = new TextEncoder().encode(batch.text);
  const decoder = new TextDecoder();
  return batch.devices.map(({ id }) => decoder.decode(bytes.subarray(id.start, id.start + id.len)));
}

export const questions = {
  eligibility: (rollout, release, device) => decide(device.id),
  eligibilityBatch: (rollout, release, batch) => ({ reasons: [], answers: batchIds(batch).map(decide) }),
  healthGate: () => ({ tag: "commit" }),
  rolloutGate: () => ({ tag: "continue" }),
};
