// staged-rollout, in JavaScript: the same policy as policies/staged-rollout
// (Rust), answer for answer, and tested against the same fixture file.
//
// Eligibility, in order:
// 1. the device's hardware must be listed by the release (incompatible-hardware);
// 2. the release must be newer than the running firmware (not-newer);
// 3. 3 or more consecutive failed updates hold the device (repeated-failures);
// 4. battery at least 30 % unless on mains, else retry in an hour (battery-low);
// 5. security releases stop here and are allowed (no waves, no windows);
// 6. no feature release over a metered satellite link (metered-satellite);
// 7. waves over the cohort seed: 1 h -> 1 %, 4 h -> 5 %, 1 d -> 15 %,
//    2 d -> 40 %, 4 d -> 60 %, 5 d -> 90 %, 6 d -> 100 % (wave-not-reached);
// 8. a maintenance window of 02:00-05:00 device local time
//    (outside-maintenance-window).
//
// Health gate: roll back on a failed integrity check, on 2 or more unexpected
// reboots, on a failed critical service or probe; wait for 10 minutes of
// healthy uptime, then commit.
//
// Rollout gate: pause a wave with at least 20 installs failing more than 5 %,
// abort above 20 %.
//
// WIT integers of 64 bits (timestamps, the cohort seed, versions, counters)
// arrive as BigInt; 8- and 32-bit ones as Number.
//
// Build: rampart policy build policies/staged-rollout-js

const MINUTE = 60n;
const HOUR = 60n * MINUTE;
const DAY = 24n * HOUR;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

// [offset from the rollout start in seconds, percent of the fleet reached]
const WAVES = [[HOUR, 1n], [4n * HOUR, 5n], [DAY, 15n], [2n * DAY, 40n], [4n * DAY, 60n], [5n * DAY, 90n], [6n * DAY, 100n]];
const WINDOW_START = 120n; // minutes of the local day: 02:00
const WINDOW_END = 300n; // 05:00
const MIN_BATTERY = 30;
const MAX_FAILURES = 3;
const HEALTHY_SECS = 600n;

// Clamp to the range of a WIT s64, as the Rust SDK's saturating_add does.
const saturating = (v) => (v < I64_MIN ? I64_MIN : v > I64_MAX ? I64_MAX : v);
// Euclidean remainder (always >= 0 for a positive divisor).
const mod = (a, b) => ((a % b) + b) % b;
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

const reason = (code, message) => ({ code, message });
const deny = (code, message) => ({ tag: "deny", val: reason(code, message) });
const defer = (until, code, message) => ({ tag: "defer", val: { until, reason: reason(code, message) } });
const ALLOW = { tag: "allow" };

// A numeric pre-release identifier, at any length (semver sets no bound).
function numeric(id) {
  return /^[0-9]+$/.test(id) ? BigInt(id) : null;
}

function bytes(s) {
  return new TextEncoder().encode(s);
}

function compareBytes(x, y) {
  const a = bytes(x);
  const b = bytes(y);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return cmp(a[i], b[i]);
  }
  return cmp(a.length, b.length);
}

function comparePre(a, b) {
  if (a === "" || b === "") return cmp(a === "" ? 1 : 0, b === "" ? 1 : 0);
  const left = a.split(".");
  const right = b.split(".");
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const nx = numeric(left[i]);
    const ny = numeric(right[i]);
    let order;
    if (nx !== null && ny !== null) order = cmp(nx, ny);
    else if (nx !== null) order = -1;
    else if (ny !== null) order = 1;
    else order = compareBytes(left[i], right[i]);
    if (order !== 0) return order;
  }
  return cmp(left.length, right.length);
}

function compare(a, b) {
  return cmp(a.major, b.major) || cmp(a.minor, b.minor) || cmp(a.patch, b.patch) || comparePre(a.pre, b.pre);
}

function eligibleAt(rollout, device) {
  const bucket = device.cohortSeed % 10000n;
  for (const [offset, percent] of WAVES) {
    if (bucket < percent * 100n) return saturating(rollout.startedAt + offset);
  }
  return null;
}

function windowOpens(now, utcOffsetMinutes) {
  const local = saturating(now + BigInt(utcOffsetMinutes) * MINUTE);
  const minute = mod(local, DAY) / MINUTE;
  if (WINDOW_START <= minute && minute < WINDOW_END) return now;
  const minutesUntil = mod(WINDOW_START - minute, 1440n);
  return now - mod(local, MINUTE) + minutesUntil * MINUTE;
}

function decide(rollout, release, device) {
  const now = rollout.now;
  const model = device.hardware.model;
  if (!release.compatibleHardware.includes(model)) {
    return deny("incompatible-hardware", `release does not support ${model}`);
  }
  if (compare(release.version, device.firmware) <= 0) {
    return deny("not-newer", "device already runs this version or a newer one");
  }
  const failures = device.updates.consecutiveFailures;
  if (failures >= MAX_FAILURES) {
    return deny("repeated-failures", `${failures} consecutive failed updates`);
  }
  const battery = device.power.batteryPercent;
  if (!(device.power.onMains || (battery != null && battery >= MIN_BATTERY))) {
    return defer(now + HOUR, "battery-low", "battery below 30 % and not on mains");
  }
  if (release.channel === "security") return ALLOW;
  if (device.link.kind === "satellite" && device.link.metered) {
    return deny("metered-satellite", "no feature release over a metered satellite link");
  }
  const at = eligibleAt(rollout, device);
  if (at === null) return deny("wave-not-reached", "the schedule never reaches this device");
  if (at > now) return defer(at, "wave-not-reached", "device is in a later wave");
  const opens = windowOpens(now, device.utcOffsetMinutes);
  if (opens > now) return defer(opens, "outside-maintenance-window", "outside 02:00-05:00 local time");
  return ALLOW;
}

// Each device of an `eligibility-batch`, as the device `eligibility` gets.
// A batch-device's strings are spans { start, len } of the batch's `text`,
// counted in UTF-8 bytes, and its labels a span (first index, count) of the
// batch's `labels`. The text is encoded once per batch and each span decoded
// from the bytes; a pure-ASCII text (as many UTF-8 bytes as UTF-16 units) is
// sliced as is.
function devicesOf(batch) {
  const { text, labels } = batch;
  const raw = new TextEncoder().encode(text);
  const decoder = new TextDecoder();
  const string =
    raw.length === text.length
      ? ({ start, len }) => text.slice(start, start + len)
      : ({ start, len }) => decoder.decode(raw.subarray(start, start + len));
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
    labels: labels
      .slice(d.labels.start, d.labels.start + d.labels.len)
      .map((l) => ({ key: string(l.key), value: string(l.value) })),
  }));
}

// The batch answers for `decisions` (one per device, in order): each distinct
// reason (same code and message) once in `reasons`, the answers pointing at
// it by index.
function answersOf(decisions) {
  const reasons = [];
  const index = new Map(); // JSON of [code, message] -> index in reasons
  const reasonIndex = (r) => {
    const key = JSON.stringify([r.code, r.message]);
    let i = index.get(key);
    if (i === undefined) {
      i = reasons.push(r) - 1;
      index.set(key, i);
    }
    return i;
  };
  const answers = decisions.map((d) => {
    switch (d.tag) {
      case "deny":
        return { tag: "deny", val: reasonIndex(d.val) };
      case "defer":
        return { tag: "defer", val: { until: d.val.until, reason: reasonIndex(d.val.reason) } };
      default:
        return ALLOW;
    }
  });
  return { reasons, answers };
}

function rollback(code, message) {
  return { tag: "rollback", val: reason(code, message) };
}

export const questions = {
  eligibility(rollout, release, device) {
    return decide(rollout, release, device);
  },

  eligibilityBatch(rollout, release, devices) {
    return answersOf(devicesOf(devices).map((device) => decide(rollout, release, device)));
  },

  healthGate(rollout, release, device, report) {
    if (report.failedIntegrityChecks > 0) {
      return rollback("integrity-check-failed", "the booted slot failed an integrity check");
    }
    if (report.unexpectedReboots >= 2) {
      return rollback("unexpected-reboots", `${report.unexpectedReboots} unexpected reboots since install`);
    }
    const service = report.failedServices.find((s) => s.critical);
    if (service) return rollback("critical-service-failed", `critical service ${service.name} failed`);
    const probe = report.probes.find((p) => p.critical && !p.passed);
    if (probe) return rollback("critical-probe-failed", `critical probe ${probe.name} failed`);
    if (report.sinceBootSecs < HEALTHY_SECS) {
      const secs = Number(HEALTHY_SECS - report.sinceBootSecs);
      return { tag: "wait", val: { secs, reason: reason("observing", "waiting for 10 minutes of healthy uptime") } };
    }
    return { tag: "commit" };
  },

  rolloutGate(rollout, release) {
    const minAttempts = 20n;
    const pausePct = 5n;
    const abortPct = 20n;
    let worst = null;
    for (const w of rollout.waves) {
      if (w.attempted < minAttempts) continue;
      const bad = w.failed + w.rolledBack;
      if (worst === null || bad * worst.attempted > worst.bad * w.attempted) {
        worst = { wave: w.wave, bad, attempted: w.attempted };
      }
    }
    if (worst !== null) {
      const { wave, bad, attempted } = worst;
      if (bad * 100n > abortPct * attempted) {
        return {
          tag: "abort",
          val: reason("failure-rate-critical", `wave ${wave}: ${bad} of ${attempted} installs failed (> ${abortPct} %)`),
        };
      }
      if (bad * 100n > pausePct * attempted) {
        return {
          tag: "pause",
          val: reason("failure-rate-high", `wave ${wave}: ${bad} of ${attempted} installs failed (> ${pausePct} %)`),
        };
      }
    }
    return { tag: "continue" };
  },
};
