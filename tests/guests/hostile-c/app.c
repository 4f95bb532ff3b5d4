// A hostile policy in C, for the tests: the device id picks the attack.
// `loop` never returns, `bomb` allocates until memory runs out; any other
// device is allowed.

#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void **volatile hoard;

static int is(const policy_string_t *s, const char *text) {
  return s->len == strlen(text) && memcmp(s->ptr, text, s->len) == 0;
}

static void decide(const rampart_policy_types_device_t *device, rampart_policy_types_eligibility_decision_t *ret) {
  if (is(&device->id, "loop")) {
    volatile unsigned long n = 0;
    for (;;) n++;
  }
  if (is(&device->id, "bomb")) {
    // Chained through a volatile head, so the compiler cannot elide them.
    for (;;) {
      void **p = malloc(1 << 20);
      if (!p) abort();
      memset(p, 1, 1 << 20);
      *p = (void *)hoard;
      hoard = p;
    }
  }
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;
}

void exports_rampart_policy_questions_eligibility(rampart_policy_types_rollout_t *rollout,
                                                  rampart_policy_types_release_t *release,
                                                  rampart_policy_types_device_t *device,
                                                  rampart_policy_types_eligibility_decision_t *ret) {
  decide(device, ret);
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
  for (size_t i = 0; i < devices->len; i++) decide(&devices->ptr[i], &ret->ptr[i]);
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
