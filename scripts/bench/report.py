#!/usr/bin/env python3
"""Writes BENCHMARKS.md (and its plot, benchmarks.svg) from the JSON files the benchmark scripts wrote.

  report.py [--output BENCHMARKS.md] [--svg benchmarks.svg] [--bin-dir DIR] [--note TEXT]... FILE_OR_DIR...

Each FILE is a list of figures in the shared shape of figures.py (a directory stands for every *.json in it); any
benchmark that writes that shape is reported, under a section of its own. The report has:

  - the machine: cores and CPU model, memory, kernel, distribution, cgroup version, the disk and file system of the
    repository and of the temporary directory (where the benchmarks keep their state), Swift, the autonous
    binaries measured (--bin-dir) and the peers' versions, the load average when the report was written;
  - the targets: each figure that has one, and the targets of the benchmarks issue no figure of this run carries
    (a benchmark that adds a figure with that id fills the row), met or NOT met on the medians;
  - per benchmark file, a table: median, min, max, runs, the peer's median (min-max), the ratio of the medians
    (autonous / peer), the target and whether it is met; then the notes: how each figure was measured, and why one
    could not be compared or measured;
  - an SVG plot of message -> reply latency and of the whole-tree memory, autonous against nanobot (peers.py's
    figures), written by hand (no plotting library).

Nothing is invented: a figure without samples, or whose peer is missing, is shown as not measured, with the reason.
"""
import argparse
import datetime
import glob
import os
import platform
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Sections for the files make bench writes, in this order; any other file gets a section named after it.
SECTIONS = [
    ("peers", "autonous and nanobot, whole processes, side by side", "scripts/bench/peers.py"),
    ("sandbox_launch", "Sandbox launch against bubblewrap", "scripts/bench/sandbox_launch.py"),
    ("grep_tool", "Native grep tool against GNU grep", "scripts/bench/grep_tool.py"),
    ("agent_latency", "The agent's own cost", "scripts/bench/agent_latency.py"),
    ("revisions", "Recovery: restarts and reverts", "scripts/bench/revisions.py"),
    ("events", "The event log's writes", "autonous-bench events (Sources/Bench)"),
    ("trace", "Review on a large database", "autonous-bench trace (Sources/Bench)"),
    ("build_times", "The self-update's build", "scripts/bench/build_times.py"),
]

# The benchmarks issue's targets. A figure with one of these ids and a target of its own is checked in its place;
# until a benchmark writes such a figure, the row says it was not measured in this run.
EXPECTED_TARGETS = [
    ("sandbox.launch_no_cgroup", "sandbox launch <= 1.0x bubblewrap doing equal work"),
    ("peers.idle_pss", "idle PSS of the whole tree <= 0.2x nanobot's"),
    ("peers.idle_cpu_before", "idle CPU <= nanobot's"),
    ("peers.reply", "message -> reply <= 0.1x nanobot's"),
    ("grep.native", "native grep <= 1.5x GNU grep"),
    ("events.single_writer", ">= 20,000 events/s, one writer"),
    ("trace.million_events", "`trace` of one run on a 1,000,000-event database < 50 ms"),
]


# -- the machine --------------------------------------------------------------------------------------------------


def read(path, default=""):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def command_output(command):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (result.stdout or result.stderr).strip()


def mounts():
    entries = []
    for line in read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) >= 3:
            entries.append((fields[0], fields[1].replace("\\040", " "), fields[2]))
    return entries


def mount_of(path):
    """(device, mount point, file system type) of the mount that holds path."""
    path = os.path.realpath(path)
    best = ("?", "/", "?")
    for device, point, kind in mounts():
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best[1]):
            best = (device, point, kind)
    return best


def disk(path):
    """'/dev/vda (virtio_blk, rotational 1, discard), ext4 on /' for the file system that holds path."""
    device, point, kind = mount_of(path)
    details = []
    if device.startswith("/dev/"):
        name = os.path.basename(os.path.realpath(device))
        block = "/sys/class/block/%s" % name
        if os.path.exists(block + "/partition"):
            block = os.path.dirname(os.path.realpath(block))
        driver = os.path.basename(os.path.realpath(block + "/device/driver")) if os.path.exists(
            block + "/device/driver") else ""
        model = read(block + "/device/model")
        for part in (model, driver):
            if part:
                details.append(part)
        rotational = read(block + "/queue/rotational")
        if rotational:
            details.append("rotational flag %s" % rotational)
        if read(block + "/queue/discard_max_bytes", "0") not in ("", "0"):
            details.append("discard")
    return "%s%s, %s on %s" % (device, " (%s)" % ", ".join(details) if details else "", kind, point)


def cgroup_version():
    kinds = {point: kind for _, point, kind in mounts()}
    if kinds.get("/sys/fs/cgroup") == "cgroup2":
        return "v2 (unified)"
    if kinds.get("/sys/fs/cgroup/unified") == "cgroup2":
        return "v1 (hybrid: controllers on v1, an empty cgroup2 hierarchy at /sys/fs/cgroup/unified)"
    if any(kind == "cgroup" for kind in kinds.values()):
        return "v1"
    return "none mounted"


def cpu_model():
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def virtualized():
    return any(line.startswith("flags") and " hypervisor" in line for line in read("/proc/cpuinfo").splitlines())


def distribution():
    for line in read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "?"


def memory():
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    return "?"


def binaries(bin_dir):
    """Where the measured binaries are, when they were built, and how the Swift runtime is linked."""
    if not bin_dir:
        return None
    parts = []
    times = []
    for name in ("autonous-supervisord", "autonous-worker", "autonous-sandbox"):
        path = os.path.join(bin_dir, name)
        if os.path.exists(path):
            times.append(os.path.getmtime(path))
    if times:
        parts.append("built %s" % datetime.datetime.fromtimestamp(max(times), datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"))
    linked = command_output(["ldd", os.path.join(bin_dir, "autonous-worker")])
    if linked:
        parts.append("Swift runtime linked %s" % ("dynamically (libswiftCore.so)" if "libswiftCore" in linked
                                                    else "statically"))
    return "%s (%s)" % (os.path.relpath(bin_dir, ROOT) if bin_dir.startswith(ROOT) else bin_dir, ", ".join(parts))


def machine(args, peers):
    load = read("/proc/loadavg").split()[:3]
    swift = command_output([os.environ.get("SWIFT", "swift"), "--version"]).splitlines()
    head = command_output(["git", "-C", ROOT, "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"])
    rows = [
        ("cores", "%d x %s%s" % (os.cpu_count() or 0, cpu_model(), ", a virtual machine" if virtualized() else "")),
        ("memory", memory()),
        ("kernel", "%s %s" % (platform.system(), platform.release())),
        ("distribution", distribution()),
        ("cgroup", cgroup_version()),
        ("repository's disk", disk(ROOT)),
        ("temporary directory (daemons' state, workspaces)", disk(tempfile.gettempdir())),
        ("load average (1, 5, 15 min) when the report was written", " / ".join(load)),
        ("Swift", next((line for line in swift if "Swift version" in line), "not found")),
        ("Python (the harness)", platform.python_version()),
        ("source", head or "?"),
    ]
    built = binaries(args.bin_dir)
    if built:
        rows.append(("autonous binaries", built))
    for name, version in sorted(peers.items()):
        rows.append(("peer: %s" % name, version))
    return rows


# -- numbers ------------------------------------------------------------------------------------------------------


def number(value):
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1000:
        return "%d" % value
    size = abs(value)
    if size >= 1000:
        return "{:,.0f}".format(value)
    if size >= 100:
        return "%.0f" % value
    if size >= 10:
        return "%.1f" % value
    if size >= 1:
        return "%.2f" % value
    if size == 0:
        return "0"
    return "%.2g" % value if size >= 0.0001 else "%.1e" % value


def evaluate(fig):
    """(median, min, max, peer median, peer min, peer max, ratio, verdict text) of a figure."""
    median, low, high = figures.summary(fig.get("samples") or [])
    peer = fig.get("peer") or {}
    peer_median, peer_low, peer_high = figures.summary(peer.get("samples") or [])
    ratio = median / peer_median if median is not None and peer_median else None
    target = fig.get("target")
    verdict = ""
    if target:
        kind, value = target.get("kind"), target.get("value")
        if median is None:
            verdict = "not measured"
        elif kind == "ratio_max":
            if peer.get("missing") or peer_median is None:
                verdict = "not measured (no peer)"
            elif ratio is None:
                verdict = "undecided (the peer's median is 0)"
            else:
                verdict = "met" if ratio <= value else "NOT met"
        elif kind == "absolute_max":
            verdict = "met" if median <= value else "NOT met"
        elif kind == "absolute_min":
            verdict = "met" if median >= value else "NOT met"
        else:
            verdict = "unknown target kind %r" % kind
    return median, low, high, peer_median, peer_low, peer_high, ratio, verdict


def target_text(fig):
    target = fig.get("target")
    if not target:
        return ""
    kind, value = target.get("kind"), target.get("value")
    peer = (fig.get("peer") or {}).get("name", "the peer")
    if kind == "ratio_max":
        return "<= %gx %s" % (value, peer)
    if kind == "absolute_max":
        return "<= %s %s" % (number(value), fig.get("unit", ""))
    if kind == "absolute_min":
        return ">= %s %s" % (number(value), fig.get("unit", ""))
    return str(target)


# -- markdown -----------------------------------------------------------------------------------------------------


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def section_table(entries, notes):
    """Markdown lines of one section's table; appends the figures' notes to `notes` (numbered in the table)."""
    lines = ["| figure | unit | median | min | max | runs | peer: median (min-max) | ratio | target | |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for fig in entries:
        median, low, high, peer_median, peer_low, peer_high, ratio, verdict = evaluate(fig)
        peer = fig.get("peer") or {}
        if peer.get("missing"):
            peer_text = "%s: not measured" % peer.get("name", "peer")
        elif peer_median is not None:
            peer_text = "%s: %s (%s-%s)" % (peer.get("name", "peer"), number(peer_median), number(peer_low),
                                            number(peer_high))
        else:
            peer_text = ""
        refs = []
        for text in (fig.get("missing") and "Not measured: " + fig["missing"],
                     peer.get("missing") and "%s not measured: %s" % (peer.get("name", "peer"), peer["missing"]),
                     fig.get("note"), fig.get("no_peer") and "No peer: " + fig["no_peer"]):
            text = (text or "").strip()
            if text:
                if text not in notes:
                    notes.append(text)
                refs.append(notes.index(text) + 1)
        refs = [str(ref) for ref in sorted(set(refs))]
        title = fig.get("title", fig.get("id", "?")) + (" [%s]" % ", ".join(refs) if refs else "")
        ratio_text = "" if ratio is None else ("%.2f" % ratio if ratio >= 0.1 else "%.3f" % ratio)
        lines.append("| %s |" % " | ".join(cell(c) for c in (
            title, fig.get("unit", ""), number(median) if median is not None else "not measured",
            number(low) if median is not None else "", number(high) if median is not None else "",
            len(fig.get("samples") or []), peer_text, ratio_text, target_text(fig),
            "**%s**" % verdict if verdict else "")))
    return lines


def targets_table(sections):
    """The targets: every figure with one, and the issue's targets that no figure of this run carries."""
    by_id = {}
    for _, _, _, entries in sections:
        for fig in entries:
            by_id[fig.get("id")] = fig
    lines = ["| target | figure | measured | |", "|---|---|---|---|"]
    seen = set()
    for fig_id, text in EXPECTED_TARGETS:
        fig = by_id.get(fig_id)
        if fig is None or not fig.get("target"):
            lines.append("| %s | `%s` | not in this run | **not measured** |" % (cell(text), fig_id))
            continue
        seen.add(fig_id)
        lines.append(target_row(fig, text))
    for _, _, _, entries in sections:
        for fig in entries:
            if fig.get("target") and fig.get("id") not in seen:
                lines.append(target_row(fig, target_text(fig)))
    return lines


def target_row(fig, text):
    median, _, _, peer_median, _, _, ratio, verdict = evaluate(fig)
    if median is None:
        measured = "-"
    elif fig["target"].get("kind") == "ratio_max":
        measured = "%s %s / %s %s = %s" % (
            number(median), fig.get("unit", ""), number(peer_median), fig.get("unit", ""),
            "-" if ratio is None else ("%.2f" % ratio if ratio >= 0.1 else "%.3f" % ratio)) \
            if peer_median is not None else "%s %s (no peer)" % (number(median), fig.get("unit", ""))
    else:
        measured = "%s %s" % (number(median), fig.get("unit", ""))
    return "| %s | %s | %s | **%s** |" % (cell(text), cell(fig.get("title", fig.get("id"))), cell(measured), verdict)


# -- the plot -----------------------------------------------------------------------------------------------------

COLORS = {"autonous": "#2b6cb0", "peer": "#dd6b20"}


def nice_step(span):
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if span / step <= 6:
            return step
    return 10000


def panel(x0, title, unit, groups):
    """SVG elements of one bar panel at x0: groups is [(label, fig)], two bars each (autonous, peer)."""
    width, top, bottom = 330, 60, 290
    values = []
    for _, fig in groups:
        for samples in (fig.get("samples") or [], (fig.get("peer") or {}).get("samples") or []):
            if samples:
                values.append((statistics.median(samples), max(samples)))
    out = ['<text x="%d" y="30" font-size="14" font-weight="bold">%s</text>' % (x0, esc(title))]
    if not values:
        out.append('<text x="%d" y="120" font-size="12">not measured in this run</text>' % x0)
        return out
    largest_median = max(m for m, _ in values)
    ceiling = max(high for _, high in values)
    ceiling = min(ceiling, largest_median * 1.6) * 1.08 or 1
    step = nice_step(ceiling)
    ceiling = step * (int(ceiling / step) + 1)

    def y(value):
        return bottom - min(value, ceiling) / ceiling * (bottom - top)

    left = x0 + 45
    for tick in range(0, int(ceiling) + 1, step):
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y(tick), x0 + width,
                                                                                   y(tick)))
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">{:,}</text>'.format(tick) % (
            left - 4, y(tick) + 3))
    out.append('<text x="%d" y="%d" font-size="10" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>'
               % (x0 + 8, (top + bottom) // 2, x0 + 8, (top + bottom) // 2, esc(unit)))
    slot = (width - 55) / len(groups)
    for index, (label, fig) in enumerate(groups):
        base = left + 10 + index * slot
        series = [("autonous", fig.get("samples") or []), ("peer", (fig.get("peer") or {}).get("samples") or [])]
        for column, (who, samples) in enumerate(series):
            x = base + column * (slot / 2 - 4)
            bar = slot / 2 - 14
            if not samples:
                out.append('<text x="%.1f" y="%d" font-size="10">%s</text>' % (x, bottom - 6, "not measured"))
                continue
            median, low, high = statistics.median(samples), min(samples), max(samples)
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (
                x, y(median), bar, bottom - y(median), COLORS[who]))
            middle = x + bar / 2
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222"/>' % (middle, y(low), middle,
                                                                                           y(high)))
            for end in (low, high):
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222"/>' % (
                    middle - 5, y(end), middle + 5, y(end)))
            if high > ceiling:
                out.append('<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">max %s</text>' % (
                    middle, top - 4, number(high)))
            if bottom - y(median) > 16:  # inside the bar
                out.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#fff">%s</text>' % (
                    middle, y(median) + 12, number(median)))
            else:  # above it
                out.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>' % (
                    middle, min(y(median), y(high)) - 4, number(median)))
        out.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>' % (
            base + slot / 2 - 8, bottom + 16, esc(label)))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#222"/>' % (left, bottom, x0 + width, bottom))
    return out


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plot(by_id):
    """The SVG text comparing autonous with nanobot, or None when peers.py did not run."""
    reply, first = by_id.get("peers.reply"), by_id.get("peers.first_text")
    idle, after = by_id.get("peers.idle_pss"), by_id.get("peers.pss_after")
    if not any((reply, first, idle, after)):
        return None
    peer_name = next(((f.get("peer") or {}).get("name") for f in (reply, idle) if f and f.get("peer")), "peer")
    missing = next(((f.get("peer") or {}).get("missing") for f in (reply, idle) if f and f.get("peer")), None)
    runs = len((reply or {}).get("samples") or [])
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="760" height="360" viewBox="0 0 760 360" '
           'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           '<rect width="760" height="360" fill="#fff"/>']
    out += panel(20, "Telegram message -> answer", "ms", [
        (label, fig) for label, fig in (("first visible text", first), ("final reply", reply)) if fig])
    unique, dirty = by_id.get("peers.idle_unique"), by_id.get("peers.idle_private_dirty")
    out += panel(410, "Memory of the whole process tree", "MiB", [
        (label, fig) for label, fig in (("PSS idle", idle), ("PSS after", after),
                                        ("unique", unique), ("dirty", dirty)) if fig])
    legend_y = 330
    out.append('<rect x="20" y="%d" width="12" height="12" fill="%s"/>' % (legend_y - 10, COLORS["autonous"]))
    out.append('<text x="38" y="%d" font-size="12">autonous</text>' % legend_y)
    out.append('<rect x="120" y="%d" width="12" height="12" fill="%s"/>' % (legend_y - 10, COLORS["peer"]))
    out.append('<text x="138" y="%d" font-size="12">%s%s</text>' % (
        legend_y, esc(peer_name), " (not measured)" if missing else ""))
    out.append('<text x="250" y="%d" font-size="11">bars: median; whiskers: min-max; latency over %d messages;'
               ' unique: each page once; dirty: private dirty</text>' % (legend_y, runs))
    out.append('<text x="20" y="350" font-size="10" fill="#555">Same fake Telegram and OpenAI servers, '
               'zero-latency streaming model, alternating rounds; nanobot waits 0.2 s per chat before it answers.'
               '</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- main ---------------------------------------------------------------------------------------------------------


def collect(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(glob.glob(os.path.join(path, "*.json")))
        else:
            files.append(path)
    known = {stem: index for index, (stem, _, _) in enumerate(SECTIONS)}
    sections = []
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        entries = figures.load(path)
        if stem in known:
            _, title, source = SECTIONS[known[stem]]
        else:
            title, source = "Figures from %s" % os.path.basename(path), os.path.basename(path)
        sections.append((known.get(stem, len(SECTIONS)), title, source, entries))
    sections.sort(key=lambda item: (item[0], item[2]))
    return sections


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="JSON files of figures, or directories of them")
    parser.add_argument("--output", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--svg", default=None, help="the plot's path (default: benchmarks.svg beside --output)")
    parser.add_argument("--bin-dir", help="the directory of the autonous binaries that were measured")
    parser.add_argument("--note", action="append", default=[], help="a sentence for the report's head")
    parser.add_argument("--command", default="make bench", help="what produced the figures")
    parser.add_argument("--duration", type=float, help="seconds the benchmarks took")
    args = parser.parse_args()
    svg_path = args.svg or os.path.join(os.path.dirname(os.path.abspath(args.output)), "benchmarks.svg")

    sections = collect(args.inputs)
    peers = {}
    by_id = {}
    for _, _, _, entries in sections:
        for fig in entries:
            by_id[fig.get("id")] = fig
            peer = fig.get("peer") or {}
            if peer.get("name"):
                peers.setdefault(peer["name"], peer.get("version") or (
                    "not measured: " + peer["missing"] if peer.get("missing") else "version not recorded"))

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmarks", "",
             "Generated by `%s` (scripts/bench/report.py) on %s%s. Do not edit by hand: run `make bench` again. "
             "Each figure is the median, min and max over its runs; a ratio is autonous's median over the peer's, "
             "measured in the same run." % (
                 args.command, now,
                 "; the benchmarks took %.1f minutes (the build not included)" % (args.duration / 60)
                 if args.duration else ""),
             ""]
    for note in args.note:
        lines += ["**%s**" % note, ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += ["| %s | %s |" % (cell(key), cell(value)) for key, value in machine(args, peers)]
    lines += ["", "## Targets", "",
              "Checked on the medians of this run. Rows that are not measured belong to benchmarks not in this "
              "run: a JSON file of figures with that id (scripts/bench/figures.py's shape) given to report.py "
              "fills them.", ""]
    lines += targets_table(sections)
    svg = plot(by_id)
    notes = []
    for _, title, source, entries in sections:
        lines += ["", "## %s" % title, "", "From `%s`." % source, ""]
        if source.endswith("peers.py") and svg:
            lines += ["![message -> reply latency and whole-tree memory, autonous against nanobot](%s)" %
                      os.path.relpath(svg_path, os.path.dirname(os.path.abspath(args.output))), ""]
        lines += section_table(entries, notes)
    if notes:
        lines += ["", "## Notes", ""]
        lines += ["%d. %s" % (index + 1, note) for index, note in enumerate(notes)]
    with open(args.output, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    if svg:
        with open(svg_path, "w") as handle:
            handle.write(svg)
    print("report: wrote %s%s (%d figures)" % (args.output, " and %s" % svg_path if svg else "",
                                               sum(len(entries) for *_, entries in sections)))


if __name__ == "__main__":
    main()
