"""A hostile policy in Python, for the tests: the device id picks the attack.
`loop` never returns, `bomb` allocates until memory runs out; any other
device is allowed."""

from typing import List

from wit_world import exports
from wit_world.imports.types import (
    EligibilityDecision_Allow,
    HealthDecision_Commit,
    RolloutDecision_Continue,
)


def decide(device):
    if device.id == "loop":
        n = 0
        while True:
            n += 1
    if device.id == "bomb":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    return EligibilityDecision_Allow()


class Questions(exports.Questions):
    def eligibility(self, rollout, release, device):
        return decide(device)

    def eligibility_batch(self, rollout, release, devices) -> List:
        return [decide(device) for device in devices]

    def health_gate(self, rollout, release, device, report):
        return HealthDecision_Commit()

    def rollout_gate(self, rollout, release):
        return RolloutDecision_Continue()
