"""A hostile policy in Python, for the tests: the device id picks the attack.
`loop` never returns, `bomb` allocates until memory runs out; any other
device is allowed."""

from wit_world import exports
from wit_world.imports.types import (
    BatchAnswer_Allow,
    BatchAnswers,
    EligibilityDecision_Allow,
    HealthDecision_Commit,
    RolloutDecision_Continue,
)


def attack(device_id):
    if device_id == "loop":
        n = 0
        while True:
            n += 1
    if device_id == "bomb":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))


class Questions(exports.Questions):
    def eligibility(self, rollout, release, device):
        attack(device.id)
        return EligibilityDecision_Allow()

    def eligibility_batch(self, rollout, release, devices) -> BatchAnswers:
        # Each id is a span of the batch's text, in UTF-8 bytes.
        raw = devices.text.encode()
        answers = []
        for device in devices.devices:
            attack(raw[device.id.start : device.id.start + device.id.len].decode())
            answers.append(BatchAnswer_Allow())
        return BatchAnswers([], answers)

    def health_gate(self, rollout, release, device, report):
        return HealthDecision_Commit()

    def rollout_gate(self, rollout, release):
        return RolloutDecision_Continue()
