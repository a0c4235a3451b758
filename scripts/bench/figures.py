"""The one JSON shape every benchmark script writes with `--json FILE`, and scripts/bench/report.py reads.

A file is a JSON list of figures. A figure is an object:

  id       stable identifier, unique across the whole run (e.g. "sandbox_launch_no_cgroup")
  title    what was measured, for the report's table
  unit     "ms", "s", "MiB", "cores", "events/s", ... (the samples' unit)
  samples  list of numbers, one per run (message, launch, round); the report shows their median, min and max
  peer     optional: {"name", "samples", "version"?, "missing"?}: the same figure for a peer measured in the same
           run. "missing" is the reason the peer could not be measured; its samples are then empty, and the report
           says why instead of a ratio
  target   optional: {"kind": "ratio_max", "value": 1.0} (median / peer's median must be <= value),
           {"kind": "absolute_max", "value": N} or {"kind": "absolute_min", "value": N} (on the median, in `unit`)
  note     optional text shown under the table (how it was measured, ...)
  no_peer  optional: why the figure has no peer to be compared with (the report says so)
  missing  optional: why the figure itself could not be measured in this run (its samples are then empty)

report.py also accepts a file holding {"figures": [...]} (the list under a key), so a benchmark that has more to
say can add its own keys beside the figures.
"""
import json
import os
import statistics


def figure(id, title, unit, samples, peer=None, target=None, note=None, missing=None, no_peer=None):
    """One figure in the shared shape; `peer` comes from peer(), `target` from ratio_max() and friends."""
    result = {"id": id, "title": title, "unit": unit, "samples": [round(float(s), 6) for s in samples]}
    if peer is not None:
        result["peer"] = peer
    if target is not None:
        result["target"] = target
    if note:
        result["note"] = note
    if missing:
        result["missing"] = missing
    if no_peer:
        result["no_peer"] = no_peer
    return result


def peer(name, samples, version=None, missing=None):
    """A peer's samples for the same figure; `missing` (a reason) when the peer could not be measured."""
    result = {"name": name, "samples": [round(float(s), 6) for s in samples]}
    if version:
        result["version"] = version
    if missing:
        result["missing"] = missing
    return result


def ratio_max(value):
    return {"kind": "ratio_max", "value": value}


def absolute_max(value):
    return {"kind": "absolute_max", "value": value}


def absolute_min(value):
    return {"kind": "absolute_min", "value": value}


def write(path, figures):
    """Writes the figures to `path` (atomically: a report never reads half a file); no-op without a path."""
    if not path:
        return
    temporary = path + ".partial"
    with open(temporary, "w") as handle:
        json.dump(figures, handle, indent=1)
        handle.write("\n")
    os.replace(temporary, path)


def load(path):
    """The figures of one file: a list, or the list under "figures"."""
    with open(path) as handle:
        data = json.load(handle)
    if isinstance(data, dict):
        data = data.get("figures", [])
    if not isinstance(data, list):
        raise ValueError("%s: expected a list of figures" % path)
    return data


def summary(samples):
    """(median, min, max) of a non-empty list, else (None, None, None)."""
    if not samples:
        return None, None, None
    return statistics.median(samples), min(samples), max(samples)
