"""staged-rollout, in Python: the same policy as policies/staged-rollout (Rust),
answer for answer, and tested against the same fixture file.

Eligibility, in order:
1. the device's hardware must be listed by the release (incompatible-hardware);
2. the release must be newer than the running firmware (not-newer);
3. 3 or more consecutive failed updates hold the device (repeated-failures);
4. battery at least 30 % unless on mains, else retry in an hour (battery-low);
5. security releases stop here and are allowed (no waves, no windows);
6. no feature release over a metered satellite link (metered-satellite);
7. waves over the cohort seed: 1 h -> 1 %, 4 h -> 5 %, 1 d -> 15 %,
   2 d -> 40 %, 4 d -> 60 %, 5 d -> 90 %, 6 d -> 100 % (wave-not-reached);
8. a maintenance window of 02:00-05:00 device local time
   (outside-maintenance-window).

Health gate: roll back on a failed integrity check, on 2 or more unexpected
reboots, on a failed critical service or probe; wait for 10 minutes of
healthy uptime, then commit.

Rollout gate: pause a wave with at least 20 installs failing more than 5 %,
abort above 20 %.

Build: rampart policy build policies/staged-rollout-python
"""

from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from wit_world import exports
from wit_world.imports.types import (
    BatchAnswer,
    BatchAnswer_Allow,
    BatchAnswer_Defer,
    BatchAnswer_Deny,
    BatchAnswers,
    BatchDeferral,
    Channel,
    Deferral,
    Device,
    DeviceBatch,
    EligibilityDecision,
    EligibilityDecision_Allow,
    EligibilityDecision_Defer,
    EligibilityDecision_Deny,
    Hardware,
    HealthDecision,
    HealthDecision_Commit,
    HealthDecision_Rollback,
    HealthDecision_Wait,
    HealthReport,
    Label,
    LinkKind,
    Location,
    Reason,
    Release,
    Rollout,
    RolloutDecision,
    RolloutDecision_Abort,
    RolloutDecision_Continue,
    RolloutDecision_Pause,
    Semver,
    Span,
    Waiting,
)

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1

# (offset from the rollout start in seconds, percent of the fleet reached)
WAVES = [(HOUR, 1), (4 * HOUR, 5), (DAY, 15), (2 * DAY, 40), (4 * DAY, 60), (5 * DAY, 90), (6 * DAY, 100)]
WINDOW_START, WINDOW_END = 2 * 60, 5 * 60  # minutes of the local day
MIN_BATTERY = 30
MAX_FAILURES = 3
HEALTHY_SECS = 600


def saturating(value: int) -> int:
    """Clamp to the range of a WIT s64, as the Rust SDK's saturating_add does."""
    return max(I64_MIN, min(I64_MAX, value))


def deny(code: str, message: str) -> EligibilityDecision:
    return EligibilityDecision_Deny(Reason(code, message))


def defer(until: int, code: str, message: str) -> EligibilityDecision:
    return EligibilityDecision_Defer(Deferral(until, Reason(code, message)))


def numeric(identifier: str) -> Optional[int]:
    """A numeric pre-release identifier, at any length (semver sets no bound)."""
    if identifier and all("0" <= c <= "9" for c in identifier):
        return int(identifier)
    return None


def compare_pre(a: str, b: str) -> int:
    if not a or not b:
        return (not a) - (not b)
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right):
        nx, ny = numeric(x), numeric(y)
        if nx is not None and ny is not None:
            order = (nx > ny) - (nx < ny)
        elif nx is not None:
            order = -1
        elif ny is not None:
            order = 1
        else:
            xb, yb = x.encode(), y.encode()
            order = (xb > yb) - (xb < yb)
        if order:
            return order
    return (len(left) > len(right)) - (len(left) < len(right))


def compare(a: Semver, b: Semver) -> int:
    ka, kb = (a.major, a.minor, a.patch), (b.major, b.minor, b.patch)
    return (ka > kb) - (ka < kb) or compare_pre(a.pre, b.pre)


def eligible_at(rollout: Rollout, device: Device) -> Optional[int]:
    bucket = device.cohort_seed % 10_000
    for offset, percent in WAVES:
        if bucket < percent * 100:
            return saturating(rollout.started_at + offset)
    return None


def window_opens(now: int, utc_offset_minutes: int) -> int:
    local = saturating(now + utc_offset_minutes * MINUTE)
    minute = local % DAY // MINUTE
    if WINDOW_START <= minute < WINDOW_END:
        return now
    minutes_until = (WINDOW_START - minute) % 1440
    return now - local % MINUTE + minutes_until * MINUTE


def decide(rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
    now = rollout.now
    model = device.hardware.model
    if model not in release.compatible_hardware:
        return deny("incompatible-hardware", f"release does not support {model}")
    if compare(release.version, device.firmware) <= 0:
        return deny("not-newer", "device already runs this version or a newer one")
    failures = device.updates.consecutive_failures
    if failures >= MAX_FAILURES:
        return deny("repeated-failures", f"{failures} consecutive failed updates")
    power = device.power
    battery = power.battery_percent
    if not (power.on_mains or (battery is not None and battery >= MIN_BATTERY)):
        return defer(now + HOUR, "battery-low", "battery below 30 % and not on mains")
    if release.channel == Channel.SECURITY:
        return EligibilityDecision_Allow()
    if device.link.kind == LinkKind.SATELLITE and device.link.metered:
        return deny("metered-satellite", "no feature release over a metered satellite link")
    at = eligible_at(rollout, device)
    if at is None:
        return deny("wave-not-reached", "the schedule never reaches this device")
    if at > now:
        return defer(at, "wave-not-reached", "device is in a later wave")
    opens = window_opens(now, device.utc_offset_minutes)
    if opens > now:
        return defer(opens, "outside-maintenance-window", "outside 02:00-05:00 local time")
    return EligibilityDecision_Allow()


def devices_of(batch: DeviceBatch) -> Iterator[Device]:
    """Each device of an `eligibility-batch`, as the Device `eligibility` gets.

    A batch-device's strings are spans of the batch's `text`, counted in
    UTF-8 bytes, and its labels a span (first index, count) of the batch's
    `labels`. The text is encoded once per batch and each span decoded from
    the bytes; a pure-ASCII text (bytes and characters alike) is sliced as is.
    """
    text = batch.text
    if text.isascii():

        def string(span: Span) -> str:
            return text[span.start : span.start + span.len]

    else:
        raw = text.encode()

        def string(span: Span) -> str:
            return raw[span.start : span.start + span.len].decode()

    labels = batch.labels
    for d in batch.devices:
        own_labels = labels[d.labels.start : d.labels.start + d.labels.len]
        yield Device(
            id=string(d.id),
            cohort_seed=d.cohort_seed,
            hardware=Hardware(string(d.hardware_model), string(d.hardware_revision)),
            firmware=Semver(d.firmware_major, d.firmware_minor, d.firmware_patch, string(d.firmware_pre)),
            security_counter=d.security_counter,
            location=Location(string(d.country), d.geo),
            credential=d.credential,
            power=d.power,
            link=d.link,
            utc_offset_minutes=d.utc_offset_minutes,
            uptime_secs=d.uptime_secs,
            updates=d.updates,
            labels=[Label(string(label.key), string(label.value)) for label in own_labels],
        )


def answers_of(decisions: Iterable[EligibilityDecision]) -> BatchAnswers:
    """The batch answers for `decisions` (one per device, in order): each
    distinct reason (same code and message) once in `reasons`, the answers
    pointing at it by index."""
    reasons: List[Reason] = []
    index: Dict[Tuple[str, str], int] = {}

    def reason_index(reason: Reason) -> int:
        key = (reason.code, reason.message)
        i = index.get(key)
        if i is None:
            i = index[key] = len(reasons)
            reasons.append(reason)
        return i

    allow = BatchAnswer_Allow()
    answers: List[BatchAnswer] = []
    for decision in decisions:
        if isinstance(decision, EligibilityDecision_Deny):
            answers.append(BatchAnswer_Deny(reason_index(decision.value)))
        elif isinstance(decision, EligibilityDecision_Defer):
            deferral = decision.value
            answers.append(BatchAnswer_Defer(BatchDeferral(deferral.until, reason_index(deferral.reason))))
        else:
            answers.append(allow)
    return BatchAnswers(reasons, answers)


class Questions(exports.Questions):
    def eligibility(self, rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
        return decide(rollout, release, device)

    def eligibility_batch(self, rollout: Rollout, release: Release, devices: DeviceBatch) -> BatchAnswers:
        return answers_of(decide(rollout, release, device) for device in devices_of(devices))

    def health_gate(
        self, rollout: Rollout, release: Release, device: Device, report: HealthReport
    ) -> HealthDecision:
        if report.failed_integrity_checks > 0:
            return HealthDecision_Rollback(
                Reason("integrity-check-failed", "the booted slot failed an integrity check")
            )
        if report.unexpected_reboots >= 2:
            return HealthDecision_Rollback(
                Reason("unexpected-reboots", f"{report.unexpected_reboots} unexpected reboots since install")
            )
        for service in report.failed_services:
            if service.critical:
                return HealthDecision_Rollback(
                    Reason("critical-service-failed", f"critical service {service.name} failed")
                )
        for probe in report.probes:
            if probe.critical and not probe.passed:
                return HealthDecision_Rollback(
                    Reason("critical-probe-failed", f"critical probe {probe.name} failed")
                )
        if report.since_boot_secs < HEALTHY_SECS:
            return HealthDecision_Wait(
                Waiting(
                    HEALTHY_SECS - report.since_boot_secs,
                    Reason("observing", "waiting for 10 minutes of healthy uptime"),
                )
            )
        return HealthDecision_Commit()

    def rollout_gate(self, rollout: Rollout, release: Release) -> RolloutDecision:
        min_attempts, pause_pct, abort_pct = 20, 5, 20
        worst = None  # (wave, bad, attempted)
        for w in rollout.waves:
            if w.attempted < min_attempts:
                continue
            bad = w.failed + w.rolled_back
            if worst is None or bad * worst[2] > worst[1] * w.attempted:
                worst = (w.wave, bad, w.attempted)
        if worst is not None:
            wave, bad, attempted = worst
            if bad * 100 > abort_pct * attempted:
                return RolloutDecision_Abort(
                    Reason(
                        "failure-rate-critical",
                        f"wave {wave}: {bad} of {attempted} installs failed (> {abort_pct} %)",
                    )
                )
            if bad * 100 > pause_pct * attempted:
                return RolloutDecision_Pause(
                    Reason(
                        "failure-rate-high",
                        f"wave {wave}: {bad} of {attempted} installs failed (> {pause_pct} %)",
                    )
                )
        return RolloutDecision_Continue()
