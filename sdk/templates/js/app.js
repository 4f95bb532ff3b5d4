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

// The health gate and the rollout gate below are the SDK's conservative
// defaults (`defaults::health_gate` and `defaults::rollout_gate` of
// rampart-sdk, which a Rust policy gets when it does not write its own),
// written out for you to adapt: the same thresholds, answers and reason codes.

// Seconds of healthy uptime after which the health gate commits.
const HEALTHY_UPTIME_SECS = 600n;

// After a trial boot: roll back on any failed integrity check, any unexpected
// reboot, any failed critical service or critical probe; wait until
// HEALTHY_UPTIME_SECS of uptime; then commit.
function healthGate(report) {
  const rollback = (code, message) => ({ tag: "rollback", val: { code, message } });
  if (report.failedIntegrityChecks > 0) {
    return rollback("integrity-check-failed", "the booted slot failed an integrity check");
  }
  if (report.unexpectedReboots > 0) {
    return rollback("unexpected-reboot", "the device rebooted unexpectedly after the update");
  }
  const service = report.failedServices.find((s) => s.critical);
  if (service) return rollback("critical-service-failed", `critical service ${service.name} failed`);
  const probe = report.probes.find((p) => p.critical && !p.passed);
  if (probe) return rollback("critical-probe-failed", `critical probe ${probe.name} failed`);
  if (report.sinceBootSecs < HEALTHY_UPTIME_SECS) {
    const secs = Number(HEALTHY_UPTIME_SECS - report.sinceBootSecs); // ask again then (a u32: a Number)
    return { tag: "wait", val: { secs, reason: { code: "observing", message: "waiting for healthy uptime" } } };
  }
  return { tag: "commit" };
}

// Failure rate (failed + rolled back, of attempted) that pauses or aborts the
// rollout, counted per wave, only for waves of at least MIN_ATTEMPTS installs.
const MIN_ATTEMPTS = 20n;
const PAUSE_PCT = 5n;
const ABORT_PCT = 20n;

// The worst wave decides (the highest failure rate, the first of equal ones):
// abort above ABORT_PCT, pause above PAUSE_PCT, otherwise continue.
function rolloutGate(rollout) {
  let worst = null;
  for (const w of rollout.waves) {
    if (w.attempted < MIN_ATTEMPTS) continue;
    const bad = w.failed + w.rolledBack;
    // bad / attempted above worst's, compared without division
    if (worst === null || bad * worst.attempted > worst.bad * w.attempted) {
      worst = { wave: w.wave, bad, attempted: w.attempted };
    }
  }
  if (worst === null) return { tag: "continue" };
  const { wave, bad, attempted } = worst;
  const message = (pct) => `wave ${wave}: ${bad} of ${attempted} installs failed (> ${pct} %)`;
  if (bad * 100n > ABORT_PCT * attempted) {
    return { tag: "abort", val: { code: "failure-rate-critical", message: message(ABORT_PCT) } };
  }
  if (bad * 100n > PAUSE_PCT * attempted) {
    return { tag: "pause", val: { code: "failure-rate-high", message: message(PAUSE_PCT) } };
  }
  return { tag: "continue" };
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
    return healthGate(report);
  },
  rolloutGate(rollout, release) {
    return rolloutGate(rollout);
  },
};
