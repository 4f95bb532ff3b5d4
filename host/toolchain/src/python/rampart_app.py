"""Written by `rampart policy build`: the policy's `Questions` (from app.py),
each question logging an exception it does not catch (type, message, and
where it was raised; the whole traceback as a field) as an error before it
traps. componentize-py's own report of it goes to standard error, which
`--stub-wasi` removes: the host named only the trap."""

import os
import traceback

import app
from wit_world.imports import log


def _reported(question):
    def call(self, *args):
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
            log.emit(log.Level.ERROR, message, [log.Field("traceback", text)])
            raise

    call.__name__ = question.__name__
    return call


class Questions(app.Questions):
    pass


for _name in ("eligibility", "eligibility_batch", "health_gate", "rollout_gate"):
    setattr(Questions, _name, _reported(getattr(app.Questions, _name)))
