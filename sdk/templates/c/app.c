// {{name}}: a Rampart update policy in C.
//
// Build: `rampart policy build` (a component in target/{{name}}.wasm).
// policy.h is generated from the WIT contract at each build (wit-bindgen c),
// into target/rampart-build/bindings.
//
// Memory: the arguments of an exported function belong to it (free them);
// strings in an answer must be malloc'ed (policy_string_dup), the bindings
// free them after the host has read the answer.

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void reason(rampart_policy_types_reason_t *r, const char *code, const char *message) {
  policy_string_dup(&r->code, code);
  policy_string_dup(&r->message, message);
}

// A reason whose message is formatted as by printf, allocated whole (never cut).
static void reasonf(rampart_policy_types_reason_t *r, const char *code, const char *format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  int len = vsnprintf(NULL, 0, format, args);
  char *message = len < 0 ? NULL : malloc((size_t)len + 1);
  if (!message) abort();
  vsnprintf(message, (size_t)len + 1, format, again);
  va_end(again);
  va_end(args);
  policy_string_dup(&r->code, code);
  r->message = (policy_string_t){(uint8_t *)message, (size_t)len};
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
    // A tag of no case until decide() sets one: an answer it left unset, or
    // set to no case, aborts below (the policy fails closed), never allows.
    rampart_policy_types_eligibility_decision_t decision = {.tag = UINT8_MAX};
    decide(rollout, release, &device, &decision);
    rampart_policy_types_batch_answer_t *answer = &ret->answers.ptr[i];
    switch (decision.tag) {
      case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW:
        answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_ALLOW;
        break;
      case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY:
        answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DENY;
        answer->val.deny = reason_index(&ret->reasons, &reasons_cap, &decision.val.deny);
        break;
      case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DEFER:
        answer->tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DEFER;
        answer->val.defer.until = decision.val.defer.until;
        answer->val.defer.reason = reason_index(&ret->reasons, &reasons_cap, &decision.val.defer.reason);
        break;
      default:
        abort();
    }
  }
  free(labels);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_batch_free(batch);
}

// The health gate and the rollout gate below are the SDK's conservative
// defaults (`defaults::health_gate` and `defaults::rollout_gate` of
// rampart-sdk, which a Rust policy gets when it does not write its own),
// written out for you to adapt: the same thresholds, answers and reason codes.

// Seconds of healthy uptime after which the health gate commits.
#define HEALTHY_UPTIME_SECS UINT64_C(600)

// After a trial boot: roll back on any failed integrity check, any unexpected
// reboot, any failed critical service or critical probe; wait until
// HEALTHY_UPTIME_SECS of uptime; then commit.
static void health_gate(const rampart_policy_types_health_report_t *report,
                        rampart_policy_types_health_decision_t *ret) {
  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
  if (report->failed_integrity_checks > 0) {
    reason(&ret->val.rollback, "integrity-check-failed", "the booted slot failed an integrity check");
    return;
  }
  if (report->unexpected_reboots > 0) {
    reason(&ret->val.rollback, "unexpected-reboot", "the device rebooted unexpectedly after the update");
    return;
  }
  for (size_t i = 0; i < report->failed_services.len; i++) {
    const rampart_policy_types_failed_service_t *s = &report->failed_services.ptr[i];
    if (s->critical) {
      reasonf(&ret->val.rollback, "critical-service-failed", "critical service %.*s failed", (int)s->name.len,
              (const char *)s->name.ptr);
      return;
    }
  }
  for (size_t i = 0; i < report->probes.len; i++) {
    const rampart_policy_types_probe_result_t *p = &report->probes.ptr[i];
    if (p->critical && !p->passed) {
      reasonf(&ret->val.rollback, "critical-probe-failed", "critical probe %.*s failed", (int)p->name.len,
              (const char *)p->name.ptr);
      return;
    }
  }
  if (report->since_boot_secs < HEALTHY_UPTIME_SECS) {
    ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_WAIT;
    ret->val.wait.secs = (uint32_t)(HEALTHY_UPTIME_SECS - report->since_boot_secs);  // ask again then
    reason(&ret->val.wait.reason, "observing", "waiting for healthy uptime");
    return;
  }
  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT;
}

void exports_rampart_policy_questions_health_gate(rampart_policy_types_rollout_t *rollout,
                                                  rampart_policy_types_release_t *release,
                                                  rampart_policy_types_device_t *device,
                                                  rampart_policy_types_health_report_t *report,
                                                  rampart_policy_types_health_decision_t *ret) {
  health_gate(report, ret);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
  rampart_policy_types_health_report_free(report);
}

// Failure rate (failed + rolled back, of attempted) that pauses or aborts the
// rollout, counted per wave, only for waves of at least MIN_ATTEMPTS installs.
static const uint64_t MIN_ATTEMPTS = 20, PAUSE_PCT = 5, ABORT_PCT = 20;

// The worst wave decides (the highest failure rate, the first of equal ones):
// abort above ABORT_PCT, pause above PAUSE_PCT, otherwise continue.
static void rollout_gate(const rampart_policy_types_rollout_t *rollout, rampart_policy_types_rollout_decision_t *ret) {
  const rampart_policy_types_wave_stats_t *worst = NULL;
  uint64_t worst_bad = 0;
  for (size_t i = 0; i < rollout->waves.len; i++) {
    const rampart_policy_types_wave_stats_t *w = &rollout->waves.ptr[i];
    if (w->attempted < MIN_ATTEMPTS) continue;
    uint64_t bad = w->failed + w->rolled_back;
    if (!worst || bad * worst->attempted > worst_bad * w->attempted) {  // bad/attempted, without division
      worst = w;
      worst_bad = bad;
    }
  }
  ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_CONTINUE;
  if (worst && worst_bad * 100 > ABORT_PCT * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_ABORT;
    reasonf(&ret->val.abort, "failure-rate-critical",
            "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave, worst_bad,
            worst->attempted, ABORT_PCT);
  } else if (worst && worst_bad * 100 > PAUSE_PCT * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_PAUSE;
    reasonf(&ret->val.pause, "failure-rate-high",
            "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave, worst_bad,
            worst->attempted, PAUSE_PCT);
  }
}

void exports_rampart_policy_questions_rollout_gate(rampart_policy_types_rollout_t *rollout,
                                                   rampart_policy_types_release_t *release,
                                                   rampart_policy_types_rollout_decision_t *ret) {
  rollout_gate(rollout, ret);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
}
