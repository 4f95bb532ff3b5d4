// {{name}}: a Rampart update policy in C.
//
// Build: `rampart policy build` (a component in target/{{name}}.wasm).
// policy.h is generated from the WIT contract at each build (wit-bindgen c),
// into target/rampart-build/bindings.
//
// Memory: the arguments of an exported function belong to it (free them);
// strings in an answer must be malloc'ed (policy_string_dup), the bindings
// free them after the host has read the answer.

#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void reason(rampart_policy_types_reason_t *r, const char *code, const char *message) {
  policy_string_dup(&r->code, code);
  policy_string_dup(&r->message, message);
}

static void decide(const rampart_policy_types_rollout_t *rollout, const rampart_policy_types_release_t *release,
                   const rampart_policy_types_device_t *device, rampart_policy_types_eligibility_decision_t *ret) {
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;
  if (release->channel == RAMPART_POLICY_TYPES_CHANNEL_SECURITY) return;  // never held back
  const rampart_policy_types_power_t *power = &device->power;
  if (!power->on_mains && !(power->battery_percent.is_some && power->battery_percent.val >= 30)) {
    ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DEFER;
    ret->val.defer.until = rollout->now + 3600;
    reason(&ret->val.defer.reason, "battery-low", "battery below 30 % and not on mains");
  }
}

void exports_rampart_policy_questions_eligibility(rampart_policy_types_rollout_t *rollout,
                                                  rampart_policy_types_release_t *release,
                                                  rampart_policy_types_device_t *device,
                                                  rampart_policy_types_eligibility_decision_t *ret) {
  decide(rollout, release, device, ret);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
}

void exports_rampart_policy_questions_eligibility_batch(
    rampart_policy_types_rollout_t *rollout, rampart_policy_types_release_t *release,
    exports_rampart_policy_questions_list_device_t *devices,
    exports_rampart_policy_questions_list_eligibility_decision_t *ret) {
  ret->len = devices->len;
  ret->ptr = calloc(devices->len ? devices->len : 1, sizeof *ret->ptr);
  if (!ret->ptr) abort();
  for (size_t i = 0; i < devices->len; i++) decide(rollout, release, &devices->ptr[i], &ret->ptr[i]);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  exports_rampart_policy_questions_list_device_free(devices);
}

void exports_rampart_policy_questions_health_gate(rampart_policy_types_rollout_t *rollout,
                                                  rampart_policy_types_release_t *release,
                                                  rampart_policy_types_device_t *device,
                                                  rampart_policy_types_health_report_t *report,
                                                  rampart_policy_types_health_decision_t *ret) {
  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT;
  if (report->failed_integrity_checks > 0 || report->unexpected_reboots > 0) {
    ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
    reason(&ret->val.rollback, "unhealthy", "integrity failure or unexpected reboot");
  }
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
  rampart_policy_types_health_report_free(report);
}

void exports_rampart_policy_questions_rollout_gate(rampart_policy_types_rollout_t *rollout,
                                                   rampart_policy_types_release_t *release,
                                                   rampart_policy_types_rollout_decision_t *ret) {
  ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_CONTINUE;
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
}
