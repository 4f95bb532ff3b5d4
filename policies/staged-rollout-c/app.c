// staged-rollout, in C: the same policy as policies/staged-rollout (Rust),
// answer for answer, and tested against the same fixture file.
//
// Eligibility, in order:
// 1. the device's hardware must be listed by the release (incompatible-hardware);
// 2. the release must be newer than the running firmware (not-newer);
// 3. 3 or more consecutive failed updates hold the device (repeated-failures);
// 4. battery at least 30 % unless on mains, else retry in an hour (battery-low);
// 5. security releases stop here and are allowed (no waves, no windows);
// 6. no feature release over a metered satellite link (metered-satellite);
// 7. waves over the cohort seed: 1 h -> 1 %, 4 h -> 5 %, 1 d -> 15 %,
//    2 d -> 40 %, 4 d -> 60 %, 5 d -> 90 %, 6 d -> 100 % (wave-not-reached);
// 8. a maintenance window of 02:00-05:00 device local time
//    (outside-maintenance-window).
//
// Health gate: roll back on a failed integrity check, on 2 or more unexpected
// reboots, on a failed critical service or probe; wait for 10 minutes of
// healthy uptime, then commit.
//
// Rollout gate: pause a wave with at least 20 installs failing more than 5 %,
// abort above 20 %.
//
// Memory: the arguments of an exported function belong to it (free them);
// strings in an answer are malloc'ed and freed by the bindings after return.
//
// Build: rampart policy build policies/staged-rollout-c

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

typedef rampart_policy_types_rollout_t rollout_t;
typedef rampart_policy_types_release_t release_t;
typedef rampart_policy_types_device_t device_t;
typedef rampart_policy_types_semver_t semver_t;
typedef rampart_policy_types_reason_t reason_t;
typedef rampart_policy_types_eligibility_decision_t eligibility_t;

#define MINUTE INT64_C(60)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

// Offset from the rollout start (seconds) and percent of the fleet reached.
static const struct {
  int64_t offset;
  uint64_t percent;
} WAVES[] = {{HOUR, 1}, {4 * HOUR, 5}, {DAY, 15}, {2 * DAY, 40}, {4 * DAY, 60}, {5 * DAY, 90}, {6 * DAY, 100}};
static const int64_t WINDOW_START = 120, WINDOW_END = 300; // minutes of the local day
static const uint8_t MIN_BATTERY = 30;
static const uint32_t MAX_FAILURES = 3;
static const uint64_t HEALTHY_SECS = 600;

// Addition clamped to the range of int64_t, as the Rust SDK's saturating_add.
static int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

static int64_t rem_euclid(int64_t a, int64_t b) {
  int64_t r = a % b;
  return r < 0 ? r + b : r;
}

static void set_reason(reason_t *reason, const char *code, const char *format, ...) {
  char message[256];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  policy_string_dup(&reason->code, code);
  policy_string_dup(&reason->message, message);
}

static int cmp_u64(uint64_t a, uint64_t b) { return (a > b) - (a < b); }

// A numeric pre-release identifier: ASCII digits, at any length (semver
// sets no bound).
static int numeric(const uint8_t *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
  }
  return 1;
}

static int compare_ids(const uint8_t *x, size_t xl, const uint8_t *y, size_t yl) {
  int xn = numeric(x, xl), yn = numeric(y, yl);
  // Numbers: more digits is larger (the host refuses leading zeros), then
  // digit by digit, as for text of equal length.
  if (xn && yn && xl != yl) return cmp_u64(xl, yl);
  if (xn && !yn) return -1;
  if (yn && !xn) return 1;
  int c = memcmp(x, y, xl < yl ? xl : yl);
  if (c) return c < 0 ? -1 : 1;
  return cmp_u64(xl, yl);
}

static int compare_pre(const policy_string_t *a, const policy_string_t *b) {
  if (a->len == 0 || b->len == 0) return (a->len == 0) - (b->len == 0);
  size_t i = 0, j = 0;
  for (;;) {
    size_t ie = i, je = j;
    while (ie < a->len && a->ptr[ie] != '.') ie++;
    while (je < b->len && b->ptr[je] != '.') je++;
    int c = compare_ids(a->ptr + i, ie - i, b->ptr + j, je - j);
    if (c) return c;
    int a_more = ie < a->len, b_more = je < b->len;
    if (!a_more || !b_more) return a_more - b_more;
    i = ie + 1;
    j = je + 1;
  }
}

static int compare(const semver_t *a, const semver_t *b) {
  int c = cmp_u64(a->major, b->major);
  if (!c) c = cmp_u64(a->minor, b->minor);
  if (!c) c = cmp_u64(a->patch, b->patch);
  if (!c) c = compare_pre(&a->pre, &b->pre);
  return c;
}

static int supports(const release_t *release, const policy_string_t *model) {
  for (size_t i = 0; i < release->compatible_hardware.len; i++) {
    const policy_string_t *m = &release->compatible_hardware.ptr[i];
    if (m->len == model->len && memcmp(m->ptr, model->ptr, m->len) == 0) return 1;
  }
  return 0;
}

static void deny(eligibility_t *ret, const char *code, const char *message) {
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY;
  set_reason(&ret->val.deny, code, "%s", message);
}

static void defer(eligibility_t *ret, int64_t until, const char *code, const char *message) {
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DEFER;
  ret->val.defer.until = until;
  set_reason(&ret->val.defer.reason, code, "%s", message);
}

static void decide(const rollout_t *rollout, const release_t *release, const device_t *device, eligibility_t *ret) {
  int64_t now = rollout->now;
  const policy_string_t *model = &device->hardware.model;
  if (!supports(release, model)) {
    ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY;
    set_reason(&ret->val.deny, "incompatible-hardware", "release does not support %.*s", (int)model->len,
               (const char *)model->ptr);
    return;
  }
  if (compare(&release->version, &device->firmware) <= 0) {
    deny(ret, "not-newer", "device already runs this version or a newer one");
    return;
  }
  uint32_t failures = device->updates.consecutive_failures;
  if (failures >= MAX_FAILURES) {
    ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY;
    set_reason(&ret->val.deny, "repeated-failures", "%" PRIu32 " consecutive failed updates", failures);
    return;
  }
  const rampart_policy_types_power_t *power = &device->power;
  if (!(power->on_mains || (power->battery_percent.is_some && power->battery_percent.val >= MIN_BATTERY))) {
    defer(ret, now + HOUR, "battery-low", "battery below 30 % and not on mains");
    return;
  }
  if (release->channel == RAMPART_POLICY_TYPES_CHANNEL_SECURITY) {
    ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;
    return;
  }
  if (device->link.kind == RAMPART_POLICY_TYPES_LINK_KIND_SATELLITE && device->link.metered) {
    deny(ret, "metered-satellite", "no feature release over a metered satellite link");
    return;
  }
  uint64_t bucket = device->cohort_seed % 10000;
  size_t wave = 0, waves = sizeof WAVES / sizeof WAVES[0];
  while (wave < waves && bucket >= WAVES[wave].percent * 100) wave++;
  if (wave == waves) {
    deny(ret, "wave-not-reached", "the schedule never reaches this device");
    return;
  }
  int64_t at = saturating_add(rollout->started_at, WAVES[wave].offset);
  if (at > now) {
    defer(ret, at, "wave-not-reached", "device is in a later wave");
    return;
  }
  int64_t local = saturating_add(now, (int64_t)device->utc_offset_minutes * MINUTE);
  int64_t minute = rem_euclid(local, DAY) / MINUTE;
  if (!(WINDOW_START <= minute && minute < WINDOW_END)) {
    int64_t opens = now - rem_euclid(local, MINUTE) + rem_euclid(WINDOW_START - minute, 1440) * MINUTE;
    defer(ret, opens, "outside-maintenance-window", "outside 02:00-05:00 local time");
    return;
  }
  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;
}

void exports_rampart_policy_questions_eligibility(rollout_t *rollout, release_t *release, device_t *device,
                                                  eligibility_t *ret) {
  decide(rollout, release, device, ret);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
}

// The batch form. A batch-device's strings are spans of the batch's text (in
// bytes) and its labels a span (first index, count) of the batch's labels:
// each becomes a device_t on the stack whose strings point into the text (no
// copy) and whose labels are laid out in one scratch array, is decided as a
// single device, and its decision becomes a batch answer whose reason is an
// index into a table holding each distinct (code, message) once.

typedef rampart_policy_types_device_batch_t device_batch_t;
typedef rampart_policy_types_batch_device_t batch_device_t;
typedef rampart_policy_types_span_t span_t;
typedef rampart_policy_types_label_t label_t;
typedef rampart_policy_types_batch_answer_t batch_answer_t;
typedef rampart_policy_types_batch_answers_t batch_answers_t;

// Traps on a span out of range (the host never sends one).
static void check_span(span_t span, size_t size) {
  if (span.start > size || span.len > size - span.start) abort();
}

// The string `span` stands for: a view of the batch's text, not a copy.
static policy_string_t text_of(const device_batch_t *batch, span_t span) {
  check_span(span, batch->text.len);
  return (policy_string_t){batch->text.ptr + span.start, span.len};
}

// A view of `d` as a device; its labels are written to *labels (grown as
// needed, *cap entries), so the view lasts until the next call.
static device_t device_of(const device_batch_t *batch, const batch_device_t *d, label_t **labels, size_t *cap) {
  check_span(d->labels, batch->labels.len);
  if (d->labels.len > *cap) {
    *cap = d->labels.len > 2 * *cap ? d->labels.len : 2 * *cap;
    *labels = realloc(*labels, *cap * sizeof **labels);
    if (!*labels) abort();
  }
  for (uint32_t i = 0; i < d->labels.len; i++) {
    const rampart_policy_types_batch_label_t *l = &batch->labels.ptr[d->labels.start + i];
    (*labels)[i] = (label_t){.key = text_of(batch, l->key), .value = text_of(batch, l->value)};
  }
  return (device_t){
      .id = text_of(batch, d->id),
      .cohort_seed = d->cohort_seed,
      .hardware = {.model = text_of(batch, d->hardware_model), .revision = text_of(batch, d->hardware_revision)},
      .firmware = {.major = d->firmware_major,
                   .minor = d->firmware_minor,
                   .patch = d->firmware_patch,
                   .pre = text_of(batch, d->firmware_pre)},
      .security_counter = d->security_counter,
      .location = {.country = text_of(batch, d->country), .geo = d->geo},
      .credential = d->credential,
      .power = d->power,
      .link = d->link,
      .utc_offset_minutes = d->utc_offset_minutes,
      .uptime_secs = d->uptime_secs,
      .updates = d->updates,
      .labels = {.ptr = *labels, .len = d->labels.len},
  };
}

// The reasons of a batch answer, each distinct (code, message) once: the list
// grows in `reasons` (cap entries allocated); `slots`, an open-addressing hash
// table of a power of two entries kept at most half full, holds 1 + the index
// of a reason in the list (0: empty).
typedef struct {
  rampart_policy_types_list_reason_t *reasons;
  size_t cap;
  uint32_t *slots;
  size_t nslots;
} reason_table_t;

static uint64_t hash_bytes(uint64_t h, const policy_string_t *s) {
  for (size_t i = 0; i < s->len; i++) h = (h ^ s->ptr[i]) * UINT64_C(0x100000001b3); // FNV-1a
  return (h ^ 0xff) * UINT64_C(0x100000001b3); // 0xff ends a string: no UTF-8 byte is 0xff
}

static uint64_t hash_reason(const reason_t *r) {
  return hash_bytes(hash_bytes(UINT64_C(0xcbf29ce484222325), &r->code), &r->message);
}

static int same_string(const policy_string_t *a, const policy_string_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

// The free slot for a reason of hash `h`, or the one holding a reason equal to `r`.
static size_t find_slot(const reason_table_t *t, uint64_t h, const reason_t *r) {
  size_t mask = t->nslots - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t slot = t->slots[i];
    if (slot == 0) return i;
    const reason_t *known = &t->reasons->ptr[slot - 1];
    if (same_string(&known->code, &r->code) && same_string(&known->message, &r->message)) return i;
  }
}

// The index of `*r` in the table. Takes its strings: kept if the reason is
// new, freed if it was already there.
static uint32_t reason_index(reason_table_t *t, reason_t *r) {
  rampart_policy_types_list_reason_t *list = t->reasons;
  if (2 * (list->len + 1) > t->nslots) { // grow the index, then re-insert every reason
    free(t->slots);
    t->nslots = t->nslots ? 2 * t->nslots : 16;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->slots) abort();
    for (size_t i = 0; i < list->len; i++) {
      t->slots[find_slot(t, hash_reason(&list->ptr[i]), &list->ptr[i])] = (uint32_t)i + 1;
    }
  }
  size_t i = find_slot(t, hash_reason(r), r);
  if (t->slots[i]) {
    rampart_policy_types_reason_free(r);
    return t->slots[i] - 1;
  }
  if (list->len == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 8;
    list->ptr = realloc(list->ptr, t->cap * sizeof *list->ptr);
    if (!list->ptr) abort();
  }
  list->ptr[list->len++] = *r;
  t->slots[i] = (uint32_t)list->len;
  return (uint32_t)list->len - 1;
}

// `decision` as a batch answer, its reason (if any) moved into the table.
static batch_answer_t answer_of(reason_table_t *t, eligibility_t *decision) {
  batch_answer_t answer = {0};
  switch (decision->tag) {
    case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW:
      answer.tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_ALLOW;
      break;
    case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DENY:
      answer.tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DENY;
      answer.val.deny = reason_index(t, &decision->val.deny);
      break;
    case RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_DEFER:
      answer.tag = RAMPART_POLICY_TYPES_BATCH_ANSWER_DEFER;
      answer.val.defer.until = decision->val.defer.until;
      answer.val.defer.reason = reason_index(t, &decision->val.defer.reason);
      break;
    default: // no answer, or one of no case: fail closed
      abort();
  }
  return answer;
}

// The bindings free a list of the answer only when it is not empty: an empty
// one must hold no allocation.
void exports_rampart_policy_questions_eligibility_batch(rollout_t *rollout, release_t *release, device_batch_t *batch,
                                                        batch_answers_t *ret) {
  size_t n = batch->devices.len;
  ret->reasons = (rampart_policy_types_list_reason_t){NULL, 0};
  ret->answers = (rampart_policy_types_list_batch_answer_t){n ? malloc(n * sizeof(batch_answer_t)) : NULL, n};
  if (n && !ret->answers.ptr) abort();
  reason_table_t reasons = {.reasons = &ret->reasons};
  label_t *labels = NULL;
  size_t labels_cap = 0;
  for (size_t i = 0; i < n; i++) {
    device_t device = device_of(batch, &batch->devices.ptr[i], &labels, &labels_cap);
    eligibility_t decision = {.tag = UINT8_MAX}; // no case until decide() sets one
    decide(rollout, release, &device, &decision);
    ret->answers.ptr[i] = answer_of(&reasons, &decision);
  }
  free(labels);
  free(reasons.slots);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_batch_free(batch);
}

void exports_rampart_policy_questions_health_gate(rollout_t *rollout, release_t *release, device_t *device,
                                                  rampart_policy_types_health_report_t *report,
                                                  rampart_policy_types_health_decision_t *ret) {
  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT;
  if (report->failed_integrity_checks > 0) {
    ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
    set_reason(&ret->val.rollback, "integrity-check-failed", "the booted slot failed an integrity check");
  } else if (report->unexpected_reboots >= 2) {
    ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
    set_reason(&ret->val.rollback, "unexpected-reboots", "%" PRIu32 " unexpected reboots since install",
               report->unexpected_reboots);
  } else {
    for (size_t i = 0; i < report->failed_services.len && ret->tag == RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT;
         i++) {
      const rampart_policy_types_failed_service_t *s = &report->failed_services.ptr[i];
      if (!s->critical) continue;
      ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
      set_reason(&ret->val.rollback, "critical-service-failed", "critical service %.*s failed", (int)s->name.len,
                 (const char *)s->name.ptr);
    }
    for (size_t i = 0; i < report->probes.len && ret->tag == RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT; i++) {
      const rampart_policy_types_probe_result_t *p = &report->probes.ptr[i];
      if (!p->critical || p->passed) continue;
      ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;
      set_reason(&ret->val.rollback, "critical-probe-failed", "critical probe %.*s failed", (int)p->name.len,
                 (const char *)p->name.ptr);
    }
    if (ret->tag == RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT && report->since_boot_secs < HEALTHY_SECS) {
      ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_WAIT;
      ret->val.wait.secs = (uint32_t)(HEALTHY_SECS - report->since_boot_secs);
      set_reason(&ret->val.wait.reason, "observing", "waiting for 10 minutes of healthy uptime");
    }
  }
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  rampart_policy_types_device_free(device);
  rampart_policy_types_health_report_free(report);
}

typedef unsigned __int128 u128;

void exports_rampart_policy_questions_rollout_gate(rollout_t *rollout, release_t *release,
                                                   rampart_policy_types_rollout_decision_t *ret) {
  const uint64_t min_attempts = 20, pause_pct = 5, abort_pct = 20;
  const rampart_policy_types_wave_stats_t *worst = NULL;
  uint64_t worst_bad = 0;
  for (size_t i = 0; i < rollout->waves.len; i++) {
    const rampart_policy_types_wave_stats_t *w = &rollout->waves.ptr[i];
    if (w->attempted < min_attempts) continue;
    uint64_t bad = w->failed + w->rolled_back; /* the host checks it is at most `attempted` */
    /* Products of two counts in 128 bits: in 64 they wrap beyond 2^32 installs. */
    if (!worst || (u128)bad * worst->attempted > (u128)worst_bad * w->attempted) {
      worst = w;
      worst_bad = bad;
    }
  }
  ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_CONTINUE;
  if (worst && (u128)worst_bad * 100 > (u128)abort_pct * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_ABORT;
    set_reason(&ret->val.abort, "failure-rate-critical",
               "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave,
               worst_bad, worst->attempted, abort_pct);
  } else if (worst && (u128)worst_bad * 100 > (u128)pause_pct * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_PAUSE;
    set_reason(&ret->val.pause, "failure-rate-high",
               "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave,
               worst_bad, worst->attempted, pause_pct);
  }
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
}
