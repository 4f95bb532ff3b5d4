// {{name}}: a Rampart update policy in JavaScript.
//
// Build: `rampart policy build` (a component in target/{{name}}.wasm).
// Records arrive as objects with camelCase fields; enums as strings
// ("security", "satellite"); variants as { tag, val }; options as a value
// or undefined. 64-bit integers (timestamps, seeds, versions) are BigInt.

const HOUR = 3600n;

function decide(rollout, release, device) {
  // Security releases are never held back.
  if (release.channel === "security") return { tag: "allow" };
  const { onMains, batteryPercent } = device.power;
  if (!onMains && (batteryPercent == null || batteryPercent < 30)) {
    const reason = { code: "battery-low", message: "battery below 30 % and not on mains" };
    return { tag: "defer", val: { until: rollout.now + HOUR, reason } };
  }
  return { tag: "allow" };
}

// The devices of an `eligibility-batch`, as `eligibility` gets them. To cross
// into the policy cheaply, a batch holds every string in one `text`: a
// batch-device's strings are spans { start, len } of it, in UTF-8 bytes (not
// JS string indices), and its labels a span (first index, count) of the
// batch's `labels`.
function devicesOf(batch) {
  const bytes = new TextEncoder().encode(batch.text); // once per batch
  const decoder = new TextDecoder();
  const string = ({ start, len }) => decoder.decode(bytes.subarray(start, start + len));
  return batch.devices.map((d) => ({
    id: string(d.id),
    cohortSeed: d.cohortSeed,
    hardware: { model: string(d.hardwareModel), revision: string(d.hardwareRevision) },
    firmware: { major: d.firmwareMajor, minor: d.firmwareMinor, patch: d.firmwarePatch, pre: string(d.firmwarePre) },
    securityCounter: d.securityCounter,
    location: { country: string(d.country), geo: d.geo },
    credential: d.credential,
    power: d.power,
    link: d.link,
    utcOffsetMinutes: d.utcOffsetMinutes,
    uptimeSecs: d.uptimeSecs,
    updates: d.updates,
    labels: batch.labels
      .slice(d.labels.start, d.labels.start + d.labels.len)
      .map((l) => ({ key: string(l.key), value: string(l.value) })),
  }));
}

// The answer to an `eligibility-batch`, from one decision per device in
// order: each distinct reason (same code and message) is listed once in
// `reasons`, and a deny or defer gives the index of its reason there.
function answersOf(decisions) {
  const reasons = [];
  const index = new Map(); // JSON of [code, message] -> index in reasons
  const reasonIndex = (reason) => {
    const key = JSON.stringify([reason.code, reason.message]);
    if (!index.has(key)) index.set(key, reasons.push(reason) - 1);
    return index.get(key);
  };
  const answers = decisions.map((d) => {
    if (d.tag === "deny") return { tag: "deny", val: reasonIndex(d.val) };
    if (d.tag === "defer") return { tag: "defer", val: { until: d.val.until, reason: reasonIndex(d.val.reason) } };
    return { tag: "allow" };
  });
  return { reasons, answers };
}

export const questions = {
  eligibility(rollout, release, device) {
    return decide(rollout, release, device);
  },
  // The same answer as `eligibility`, device by device.
  eligibilityBatch(rollout, release, devices) {
    return answersOf(devicesOf(devices).map((device) => decide(rollout, release, device)));
  },
  healthGate(rollout, release, device, report) {
    if (report.failedIntegrityChecks > 0 || report.unexpectedReboots > 0) {
      return { tag: "rollback", val: { code: "unhealthy", message: "integrity failure or unexpected reboot" } };
    }
    return { tag: "commit" };
  },
  rolloutGate(rollout, release) {
    return { tag: "continue" };
  },
};
