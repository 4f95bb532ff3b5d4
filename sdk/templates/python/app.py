"""{{name}}: a Rampart update policy in Python.

Build: `rampart policy build` (a component in target/{{name}}.wasm).
The types (Rollout, Release, Device, ...) are generated from the WIT contract
by componentize-py at build time; 64-bit integers are Python ints.
"""

from typing import List

from wit_world import exports
from wit_world.imports.types import (
    Channel,
    Deferral,
    Device,
    EligibilityDecision,
    EligibilityDecision_Allow,
    EligibilityDecision_Defer,
    HealthDecision,
    HealthDecision_Commit,
    HealthDecision_Rollback,
    HealthReport,
    Reason,
    Release,
    Rollout,
    RolloutDecision,
    RolloutDecision_Continue,
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


class Questions(exports.Questions):
    def eligibility(self, rollout: Rollout, release: Release, device: Device) -> EligibilityDecision:
        return decide(rollout, release, device)

    def eligibility_batch(self, rollout: Rollout, release: Release, devices: List[Device]) -> List[EligibilityDecision]:
        return [decide(rollout, release, device) for device in devices]

    def health_gate(self, rollout: Rollout, release: Release, device: Device, report: HealthReport) -> HealthDecision:
        if report.failed_integrity_checks or report.unexpected_reboots:
            return HealthDecision_Rollback(Reason("unhealthy", "integrity failure or unexpected reboot"))
        return HealthDecision_Commit()

    def rollout_gate(self, rollout: Rollout, release: Release) -> RolloutDecision:
        return RolloutDecision_Continue()
