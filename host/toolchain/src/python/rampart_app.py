"""Written by `rampart policy build`: the policy's `Questions` (from app.py),
each question logging an exception it does not catch (type, message, and
where it was raised; the whole traceback as a field) as an error before it
traps. componentize-py's own report of it goes to standard error, which
`--stub-wasi` removes: the host named only the trap.

Standard output and error are the decision's log (`print` is a log line at
level info, `sys.stderr` at warn): under `--stub-wasi` the real ones are
stubs that trap, so a `print` left in a policy made every question fail
with a bare `unreachable`. Python's clocks (`time.time()`,
`time.monotonic()`, ..., and `datetime`'s `now()` and `today()`) read the
question's `now`. Streams and clocks
are replaced before the policy's module is imported, so that one keeping
a reference to them (`logging.basicConfig()`) gets these; what it writes
while it is imported (at build time, when the log cannot be called) goes
to the build's own output."""

import os
import sys
import time
import traceback

from wit_world.imports import log


class _LogStream:
    """A text stream whose lines are log lines at one level, once `serve`
    is called; before, what is written goes to `build`. A line not ended
    when a question returns is logged then (`flush`), so nothing written
    during one question is carried into the next."""

    encoding = "utf-8"

    def __init__(self, level, name, build):
        self._level = level
        self._pending = ""
        self._build = build
        self.name = name

    def serve(self):
        self._build.flush()
        self._build = None

    def write(self, text):
        text = str(text)
        if self._build is not None:
            return self._build.write(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            log.emit(self._level, line, [])
        return len(text)

    def flush(self):
        if self._build is not None:
            self._build.flush()
        elif self._pending:
            line, self._pending = self._pending, ""
            log.emit(self._level, line, [])

    def writable(self):
        return True

    def isatty(self):
        return False


class _Clock:
    """The time a question is asked at: its rollout's `now`, in seconds
    (0 while the module is imported). Python's clocks read it, as every
    clock of the host's WASI layer reads the decision's `now`; under
    `--stub-wasi` the real ones are stubs that trap, and with them the
    `logging` module (a record reads the clock)."""

    now = 0

    @classmethod
    def seconds(cls):
        return float(cls.now)

    @classmethod
    def nanoseconds(cls):
        return cls.now * 1_000_000_000


# CPython's C `datetime` reads the system clock itself (a stub that traps):
# `datetime` is made to fall back on its pure-Python twin, whose `now()`
# and `today()` read `time.time()`, the question's `now`.
if "datetime" not in sys.modules:
    sys.modules["_datetime"] = None

for _name in ("time", "monotonic", "perf_counter", "process_time"):
    setattr(time, _name, _Clock.seconds)
for _name in ("time_ns", "monotonic_ns", "perf_counter_ns", "process_time_ns"):
    setattr(time, _name, _Clock.nanoseconds)

sys.stdout = _LogStream(log.Level.INFO, "<stdout>", sys.stdout)
sys.stderr = _LogStream(log.Level.WARN, "<stderr>", sys.stderr)

import app  # noqa: E402 (after the streams, see the module's documentation)

sys.stdout.serve()
sys.stderr.serve()


def _reported(question):
    def call(self, *args):
        # Every question is asked with its rollout first.
        _Clock.now = args[0].now
        try:
            return question(self, *args)
        except BaseException as e:
            # Frames without their source lines: reading the sources would
            # open files, and every file access traps (`--stub-wasi`).
            frames = traceback.StackSummary.extract(traceback.walk_tb(e.__traceback__), lookup_lines=False)
            where = ""
            if frames:
                last = frames[-1]
                where = f" ({os.path.basename(last.filename)}, line {last.lineno}, in {last.name})"
            error = f"{type(e).__name__}: {e}"
            text = "".join(
                [f'File "{f.filename}", line {f.lineno}, in {f.name}\n' for f in frames] + [error]
            )
            message = f"uncaught exception: {error}{where}"
            sys.stdout.flush()
            sys.stderr.flush()
            log.emit(log.Level.ERROR, message, [log.Field("traceback", text)])
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()

    call.__name__ = question.__name__
    return call


class Questions(app.Questions):
    pass


for _name in ("eligibility", "eligibility_batch", "health_gate", "rollout_gate"):
    setattr(Questions, _name, _reported(getattr(app.Questions, _name)))
