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

// A numeric pre-release identifier: ASCII digits that fit in a u64.
static int numeric(const uint8_t *s, size_t len, uint64_t *value) {
  if (len == 0) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v)) return 0;
  }
  *value = v;
  return 1;
}

static int compare_ids(const uint8_t *x, size_t xl, const uint8_t *y, size_t yl) {
  uint64_t nx, ny;
  int xn = numeric(x, xl, &nx), yn = numeric(y, yl, &ny);
  if (xn && yn) return cmp_u64(nx, ny);
  if (xn) return -1;
  if (yn) return 1;
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

void exports_rampart_policy_questions_eligibility_batch(
    rollout_t *rollout, release_t *release, exports_rampart_policy_questions_list_device_t *devices,
    exports_rampart_policy_questions_list_eligibility_decision_t *ret) {
  ret->len = devices->len;
  ret->ptr = calloc(devices->len ? devices->len : 1, sizeof *ret->ptr);
  if (!ret->ptr) abort();
  for (size_t i = 0; i < devices->len; i++) decide(rollout, release, &devices->ptr[i], &ret->ptr[i]);
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
  exports_rampart_policy_questions_list_device_free(devices);
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

void exports_rampart_policy_questions_rollout_gate(rollout_t *rollout, release_t *release,
                                                   rampart_policy_types_rollout_decision_t *ret) {
  const uint64_t min_attempts = 20, pause_pct = 5, abort_pct = 20;
  const rampart_policy_types_wave_stats_t *worst = NULL;
  uint64_t worst_bad = 0;
  for (size_t i = 0; i < rollout->waves.len; i++) {
    const rampart_policy_types_wave_stats_t *w = &rollout->waves.ptr[i];
    if (w->attempted < min_attempts) continue;
    uint64_t bad = w->failed + w->rolled_back;
    if (!worst || bad * worst->attempted > worst_bad * w->attempted) {
      worst = w;
      worst_bad = bad;
    }
  }
  ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_CONTINUE;
  if (worst && worst_bad * 100 > abort_pct * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_ABORT;
    set_reason(&ret->val.abort, "failure-rate-critical",
               "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave,
               worst_bad, worst->attempted, abort_pct);
  } else if (worst && worst_bad * 100 > pause_pct * worst->attempted) {
    ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_PAUSE;
    set_reason(&ret->val.pause, "failure-rate-high",
               "wave %" PRIu32 ": %" PRIu64 " of %" PRIu64 " installs failed (> %" PRIu64 " %%)", worst->wave,
               worst_bad, worst->attempted, pause_pct);
  }
  rampart_policy_types_rollout_free(rollout);
  rampart_policy_types_release_free(release);
}
