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
    HealthReport,
    Label,
    Location,
    Reason,
    Release,
    Rollout,
    RolloutDecision,
    RolloutDecision_Continue,
    Semver,
    Span,
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


class Questions(exports.Questions):
    def eligibility(self, rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
        return decide(rollout, release, device)

    def eligibility_batch(self, rollout: Rollout, release: Release, devices: DeviceBatch) -> BatchAnswers:
        # The same answer as `eligibility`, device by device.
        return answers_of(decide(rollout, release, device) for device in devices_of(devices))

    def health_gate(self, rollout: Rollout, release: Release, device: Device, report: HealthReport) -> HealthDecision:
        if report.failed_integrity_checks or report.unexpected_reboots:
            return HealthDecision_Rollback(Reason("unhealthy", "integrity failure or unexpected reboot"))
        return HealthDecision_Commit()

    def rollout_gate(self, rollout: Rollout, release: Release) -> RolloutDecision:
        return RolloutDecision_Continue()
