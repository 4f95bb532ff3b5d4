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

// To cross into the policy cheaply, a batch holds every string in one `text`:
// a batch-device's strings are spans (start, len) of it, in bytes, and its
// labels a span (first index, count) of the batch's `labels`.

// The string `span` stands for: a view of the batch's text, not a copy.
static policy_string_t text_of(const rampart_policy_types_device_batch_t *batch, rampart_policy_types_span_t span) {
  return (policy_string_t){batch->text.ptr + span.start, span.len};
}

// A view of a batch-device as a device: its strings point into the text (do
// not free them) and its labels are written to *labels, an array grown as
// needed (*cap entries) and reused from one device to the next.
static rampart_policy_types_device_t device_of(const rampart_policy_types_device_batch_t *batch,
                                               const rampart_policy_types_batch_device_t *d,
                                               rampart_policy_types_label_t **labels, size_t *cap) {
  if (d->labels.len > *cap) {
    *cap = d->labels.len;
    *labels = realloc(*labels, *cap * sizeof **labels);
    if (!*labels) abort();
  }
  for (uint32_t i = 0; i < d->labels.len; i++) {
    const rampart_policy_types_batch_label_t *label = &batch->labels.ptr[d->labels.start + i];
    (*labels)[i] = (rampart_policy_types_label_t){text_of(batch, label->key), text_of(batch, label->value)};
  }
  return (rampart_policy_types_device_t){
      .id = text_of(batch, d->id),
      .cohort_seed = d->cohort_seed,
      .hardware = {text_of(batch, d->hardware_model), text_of(batch, d->hardware_revision)},
      .firmware = {d->firmware_major, d->firmware_minor, d->firmware_patch, text_of(batch, d->firmware_pre)},
      .security_counter = d->security_counter,
      .location = {text_of(batch, d->country), d->geo},
      .credential = d->credential,
      .power = d->power,
      .link = d->link,
      .utc_offset_minutes = d->utc_offset_minutes,
      .uptime_secs = d->uptime_secs,
      .updates = d->updates,
      .labels = {*labels, d->labels.len},
  };
}

static int same(const policy_string_t *a, const policy_string_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

// A batch answer gives each distinct reason (same code and message) once in
// `reasons`, and a deny or defer the index of its reason there. reason_index
// takes `*r` (its strings are kept in the list or freed) and returns its
// index, growing the list (*cap entries allocated) as needed. A linear search
// is fine for the few distinct reasons a policy gives; with messages that
// differ per device, index them with a hash table instead.
static uint32_t reason_index(rampart_policy_types_list_reason_t *reasons, size_t *cap,
                             rampart_policy_types_reason_t *r) {
  for (size_t i = 0; i < reasons->len; i++) {
    if (same(&reasons->ptr[i].code, &r->code) && same(&reasons->ptr[i].message, &r->message)) {
      rampart_policy_types_reason_free(r);
      return (uint32_t)i;
    }
  }
  if (reasons->len == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    reasons->ptr = realloc(reasons->ptr, *cap * sizeof *reasons->ptr);
    if (!reasons->ptr) abort();
  }
  reasons->ptr[reasons->len] = *r;
  return (uint32_t)reasons->len++;
}

// The same answer as eligibility, device by device. The bindings free the
// answer's lists only when they are not empty: an empty one stays NULL.
void exports_rampart_policy_questions_eligibility_batch(rampart_policy_types_rollout_t *rollout,
                                                        rampart_policy_types_release_t *release,
                                                        rampart_policy_types_device_batch_t *batch,
                                                        rampart_policy_types_batch_answers_t *ret) {
  size_t n = batch->devices.len, reasons_cap = 0, labels_cap = 0;
  rampart_policy_types_label_t *labels = NULL;
  ret->reasons = (rampart_policy_types_list_reason_t){NULL, 0};
  ret->answers = (rampart_policy_types_list_batch_answer_t){n ? calloc(n, sizeof *ret->answers.ptr) : NULL, n};
  if (n && !ret->answers.ptr) abort();
  for (size_t i = 0; i < n; i++) {
    rampart_policy_types_device_t device = device_of(batch, &batch->devices.ptr[i], &labels, &labels_cap);
    rampart_policy_types_eligibility_decision_t decision = {0};
    decide(rollout, release, &device, &decision);
    rampart_policy_types_batch_answer_t *answer = &ret->answers.ptr[i];
    answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_ALLOW;
    if (decision.tag == RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY) {
      answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DENY;
      answer->val.deny = reason_index(&ret->reasons, &reasons_cap, &decision.val.deny);
    } else if (decision.tag == RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DEFER) {
      answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DEFER;
      answer->val.defer.until = decision.val.defer.until;
      answer->val.defer.reason = reason_index(&ret->reasons, &reasons_cap, &decision.val.defer.reason);
    }
  }
  free(labels);
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
