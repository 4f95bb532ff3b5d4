# staged-rollout eligibility in Rego: the same logic as
# policies/staged-rollout/src/lib.rs, for comparison with an OPA-style engine.
package rampart

import rego.v1

steps := [[3600, 1], [14400, 5], [86400, 15], [172800, 40], [345600, 60], [432000, 90], [518400, 100]]

core(v) := [v.major, v.minor, v.patch]

newer if core(input.release.version) > core(input.device.firmware)

newer if {
	core(input.release.version) == core(input.device.firmware)
	input.device.firmware.pre != ""
	input.release.version.pre == ""
}

compatible if input.device.hardware.model in input.release.compatible_hardware

charged if input.device.power.on_mains

charged if input.device.power.battery_percent >= 30

bucket := input.device.cohort_bucket

wave_starts := [start | s := steps[_]; start := input.rollout.started_at + s[0]; bucket < s[1] * 100]

local_secs := (((input.now + (input.device.utc_offset_minutes * 60)) % 86400) + 86400) % 86400

local_minute := floor(local_secs / 60)

in_window if {
	local_minute >= 120
	local_minute < 300
}

next_open := (input.now - (local_secs % 60)) + ((((120 - local_minute) % 1440) + 1440) % 1440) * 60

default decision := {"decision": "allow"}

decision := {"decision": "deny", "code": "incompatible-hardware"} if {
	not compatible
} else := {"decision": "deny", "code": "not-newer"} if {
	not newer
} else := {"decision": "deny", "code": "repeated-failures"} if {
	input.device.updates.consecutive_failures >= 3
} else := {"decision": "defer", "code": "battery-low", "until": input.now + 3600} if {
	not charged
} else := {"decision": "allow"} if {
	input.release.channel == "security"
} else := {"decision": "deny", "code": "metered-satellite"} if {
	input.device.link.kind == "satellite"
	input.device.link.metered
} else := {"decision": "deny", "code": "wave-not-reached"} if {
	count(wave_starts) == 0
} else := {"decision": "defer", "code": "wave-not-reached", "until": min(wave_starts)} if {
	min(wave_starts) > input.now
} else := {"decision": "defer", "code": "outside-maintenance-window", "until": next_open} if {
	not in_window
}
