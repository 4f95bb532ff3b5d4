// A hostile policy in JavaScript, for the tests: the device id picks the
// attack. `loop` never returns, `bomb` allocates until memory runs out; any
// other device is allowed.

function decide(device) {
  if (device.id === "loop") {
    let n = 0;
    for (;;) n++;
  }
  if (device.id === "bomb") {
    const hoard = [];
    for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
  }
  return { tag: "allow" };
}

export const questions = {
  eligibility: (rollout, release, device) => decide(device),
  eligibilityBatch: (rollout, release, devices) => devices.map(decide),
  healthGate: () => ({ tag: "commit" }),
  rolloutGate: () => ({ tag: "continue" }),
};
