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

export const questions = {
  eligibility(rollout, release, device) {
    return decide(rollout, release, device);
  },
  eligibilityBatch(rollout, release, devices) {
    return devices.map((device) => decide(rollout, release, device));
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
