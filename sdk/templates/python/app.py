"""{{name}}: a Rampart update policy in Python.

Build: `rampart policy build` (a component in target/{{name}}.wasm).
The types (Rollout, Release, Device, ...) are generated from the WIT contract
by componentize-py at build time; 64-bit integers are Python ints.
"""

from typing import Dict, Iterable, Iterator, List, Tuple

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

HOUR = 3600


def decide(rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
    """May `device` take `release` now? Security releases are never held back;
    everything else waits for a charged battery or mains power."""
    if release.channel == Channel.SECURITY:
        return EligibilityDecision_Allow()
    power = device.power
    if not power.on_mains and (power.battery_percent is None or power.battery_percent < 30):
        reason = Reason("battery-low", "battery below 30 % and not on mains")
        return EligibilityDecision_Defer(Deferral(rollout.now + HOUR, reason))
    return EligibilityDecision_Allow()


def devices_of(batch: DeviceBatch) -> Iterator[Device]:
    """The devices of an `eligibility-batch`, as `eligibility` gets them.

    To cross into the policy cheaply, a batch holds every string in one
    `text`: a batch-device's strings are spans of it (start and length in
    UTF-8 bytes, not characters), and its labels a span (first index, count)
    of the batch's `labels`.
    """
    raw = batch.text.encode()  # once per batch

    def string(span: Span) -> str:
        return raw[span.start : span.start + span.len].decode()

    for d in batch.devices:
        labels = batch.labels[d.labels.start : d.labels.start + d.labels.len]
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
            labels=[Label(string(label.key), string(label.value)) for label in labels],
        )


def answers_of(decisions: Iterable[EligibilityDecision]) -> BatchAnswers:
    """The answer to an `eligibility-batch`, from one decision per device in
    order: each distinct reason (same code and message) is listed once in
    `reasons`, and a deny or defer gives the index of its reason there."""
    reasons: List[Reason] = []
    index: Dict[Tuple[str, str], int] = {}

    def reason_index(reason: Reason) -> int:
        key = (reason.code, reason.message)
        if key not in index:
            index[key] = len(reasons)
            reasons.append(reason)
        return index[key]

    answers: List[BatchAnswer] = []
    for decision in decisions:
        if isinstance(decision, EligibilityDecision_Deny):
            answers.append(BatchAnswer_Deny(reason_index(decision.value)))
        elif isinstance(decision, EligibilityDecision_Defer):
            deferral = decision.value
            answers.append(BatchAnswer_Defer(BatchDeferral(deferral.until, reason_index(deferral.reason))))
        else:
            answers.append(BatchAnswer_Allow())
    return BatchAnswers(reasons, answers)


# The health gate and the rollout gate below are the SDK's conservative
# defaults (`defaults::health_gate` and `defaults::rollout_gate` of
# rampart-sdk, which a Rust policy gets when it does not write its own),
# written out for you to adapt: the same thresholds, answers and reason codes.

HEALTHY_UPTIME_SECS = 600
"""Seconds of healthy uptime after which the health gate commits."""


def health_gate(report: HealthReport) -> HealthDecision:
    """After a trial boot: roll back on any failed integrity check, any
    unexpected reboot, any failed critical service or critical probe; wait
    until HEALTHY_UPTIME_SECS of uptime; then commit."""
    if report.failed_integrity_checks > 0:
        return HealthDecision_Rollback(Reason("integrity-check-failed", "the booted slot failed an integrity check"))
    if report.unexpected_reboots > 0:
        return HealthDecision_Rollback(Reason("unexpected-reboot", "the device rebooted unexpectedly after the update"))
    for service in report.failed_services:
        if service.critical:
            message = f"critical service {service.name} failed"
            return HealthDecision_Rollback(Reason("critical-service-failed", message))
    for probe in report.probes:
        if probe.critical and not probe.passed:
            message = f"critical probe {probe.name} failed"
            return HealthDecision_Rollback(Reason("critical-probe-failed", message))
    if report.since_boot_secs < HEALTHY_UPTIME_SECS:
        secs = HEALTHY_UPTIME_SECS - report.since_boot_secs  # ask again then
        return HealthDecision_Wait(Waiting(secs, Reason("observing", "waiting for healthy uptime")))
    return HealthDecision_Commit()


# Failure rate (failed + rolled back, of attempted) that pauses or aborts the
# rollout, counted per wave, only for waves of at least MIN_ATTEMPTS installs.
MIN_ATTEMPTS = 20
PAUSE_PCT = 5
ABORT_PCT = 20


def rollout_gate(rollout: Rollout) -> RolloutDecision:
    """The worst wave decides (the highest failure rate, the first of equal
    ones): abort above ABORT_PCT, pause above PAUSE_PCT, otherwise continue."""
    worst = None  # (wave, bad, attempted)
    for w in rollout.waves:
        if w.attempted < MIN_ATTEMPTS:
            continue
        bad = w.failed + w.rolled_back
        # bad / attempted above the worst's, compared without division
        if worst is None or bad * worst[2] > worst[1] * w.attempted:
            worst = (w.wave, bad, w.attempted)
    if worst is None:
        return RolloutDecision_Continue()
    wave, bad, attempted = worst
    if bad * 100 > ABORT_PCT * attempted:
        message = f"wave {wave}: {bad} of {attempted} installs failed (> {ABORT_PCT} %)"
        return RolloutDecision_Abort(Reason("failure-rate-critical", message))
    if bad * 100 > PAUSE_PCT * attempted:
        message = f"wave {wave}: {bad} of {attempted} installs failed (> {PAUSE_PCT} %)"
        return RolloutDecision_Pause(Reason("failure-rate-high", message))
    return RolloutDecision_Continue()


class Questions(exports.Questions):
    def eligibility(self, rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
        return decide(rollout, release, device)

    def eligibility_batch(self, rollout: Rollout, release: Release, devices: DeviceBatch) -> BatchAnswers:
        # The same answer as `eligibility`, device by device.
        return answers_of(decide(rollout, release, device) for device in devices_of(devices))

    def health_gate(self, rollout: Rollout, release: Release, device: Device, report: HealthReport) -> HealthDecision:
        return health_gate(report)

    def rollout_gate(self, rollout: Rollout, release: Release) -> RolloutDecision:
        return rollout_gate(rollout)
