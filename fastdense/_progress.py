"""The Keras progress bar.

On a terminal (or in Jupyter) the bar is redrawn in place with ``\\r``, at
most every ``interval`` seconds::

    469/469 [==============================] - 1s 2ms/step - loss: 0.2563 - accuracy: 0.9254

Where stdout is not a terminal (a log file, a pipe, CI) only the final line of
each bar is written, never a stream of redraws.  ``verbose=2`` writes only the
short end-of-epoch line (`` - 1s - loss: ... - accuracy: ...``).
The stream is looked up at each write (``sys.stdout``), so redirection and
pytest's capture work.
"""
import sys
import time

__all__ = ["Progbar", "format_value"]


def format_value(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return " %s" % (value,)
    if abs(value) > 1e-3:
        return " %.4f" % value
    return " %.4e" % value


def _is_dynamic(stream):
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return "ipykernel" in sys.modules


class Progbar:
    """A progress bar over ``target`` steps (values are shown as given)."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stream=None):
        self.target = int(target)
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self._stream = stream
        self._start = time.perf_counter()
        self._last_update = float("-inf")   # the first update always draws
        self._total_width = 0
        self._dynamic = _is_dynamic(self.stream)

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def due(self, current):
        """Whether ``update(current, ...)`` would draw anything now (cheap)."""
        if current >= self.target:
            return True
        if self.verbose != 1 or not self._dynamic:
            return False
        return time.perf_counter() - self._last_update >= self.interval

    def _bar(self, current):
        numdigits = len(str(self.target))
        bar = "%*d/%d [" % (numdigits, current, self.target)
        prog = float(current) / self.target if self.target else 1.0
        prog_width = int(self.width * prog)
        if prog_width > 0:
            bar += "=" * (prog_width - 1)
            bar += ">" if current < self.target else "="
        bar += "." * (self.width - prog_width)
        return bar + "]"

    @staticmethod
    def _values(values):
        return "".join(" - %s:%s" % (k, format_value(v)) for k, v in values)

    def update(self, current, values=()):
        """Draw the bar at step ``current`` with ``values`` [(name, value), ...]."""
        if not self.due(current):
            return
        now = time.perf_counter()
        elapsed = now - self._start
        out = self.stream
        final = current >= self.target
        if self.verbose == 2:
            if final:
                out.write(" - %.0fs%s\n" % (elapsed, self._values(values)))
                out.flush()
            return
        if self.verbose != 1:
            return
        bar = self._bar(current)
        per_step = elapsed / current if current else 0.0
        if final:
            info = " - %.0fs" % elapsed
            if per_step >= 1:
                info += " %.0fs/step" % per_step
            elif per_step >= 1e-3:
                info += " %.0fms/step" % (per_step * 1e3)
            else:
                info += " %.0fus/step" % (per_step * 1e6)
        else:
            eta = per_step * (self.target - current)
            if eta > 3600:
                eta_format = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_format = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_format = "%ds" % eta
            info = " - ETA: %s" % eta_format
        line = bar + info + self._values(values)
        prev = self._total_width
        self._total_width = len(line)
        if self._dynamic:
            pad = " " * max(0, prev - len(line))
            out.write("\r" + line + pad + ("\n" if final else ""))
        else:
            out.write(line + "\n")
        out.flush()
        self._last_update = now
