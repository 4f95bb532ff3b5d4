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

static void attack(const policy_string_t *id) {
  if (is(id, "loop")) {
    volatile unsigned long n = 0;
    for (;;) n++;
  }
  if (is(id, "bomb")) {
    // Chained through a volatile head, so the compiler cannot elide them.
    for (;;) {
      void **p = malloc(1 << 20);
      if (!p) abort();
      memset(p, 1, 1 << 20);
      *p = (void *)hoard;
      hoard = p;
    }
  }
}

void exports_rampart_policy_questions_eligibility(rampart_policy_types_rollout_t *rollout,
                                                  rampart_policy_types_release_t *release,
                                                  rampart_policy_types_device_t *device,
                                                  rampart_policy_types_eligibility_decision_t *ret) {
  attack(&device->id);
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
}

// Each id of a batch is a span (start, len in bytes) of its text. The
// answer's lists are freed by the bindings only when not empty: none are
// allocated for an empty batch, and there are no reasons.
void exports_rampart_policy_questions_eligibility_batch(rampart_policy_types_rollout_t *rollout,
                                                        rampart_policy_types_release_t *release,
                                                        rampart_policy_types_device_batch_t *batch,
                                                        rampart_policy_types_batch_answers_t *ret) {
  size_t n = batch->devices.len;
  ret->reasons = (rampart_policy_types_list_reason_t){NULL, 0};
  ret->answers = (rampart_policy_types_list_batch_answer_t){n ? calloc(n, sizeof *ret->answers.ptr) : NULL, n};
  if (n && !ret->answers.ptr) abort();
  for (size_t i = 0; i < n; i++) {
    rampart_policy_types_span_t span = batch->devices.ptr[i].id;
    policy_string_t id = {batch->text.ptr + span.start, span.len};
    attack(&id);
    ret->answers.ptr[i].tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_ALLOW;
  }
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_batch_free(batch);
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
