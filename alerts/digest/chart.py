"""The digest's chart: pieces per day (bars) and the negative share (line), as PNG bytes.

Rendered with matplotlib's Agg backend (no display, no network) in the configured CJK font, so the
title and legend are in the recipient's language. The PNG carries no timestamp metadata: the same
data gives the same bytes, which keeps stored digests and snapshots stable.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from alerts.digest.builder import DayPoint
from alerts.digest.i18n import fmt_short_date, strings


def render_chart(series: Sequence[DayPoint], language: str, font_file: str = "", title: str | None = None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from alerts.digest.fonts import cjk_font_path

    t = strings(language)
    font = font_manager.FontProperties(fname=str(cjk_font_path(font_file)))
    small = font.copy()
    small.set_size(8)

    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    ax = fig.add_subplot()
    xs = list(range(len(series)))
    ax.bar(xs, [p.pieces for p in series], color="#5b8def", label=t["chart_volume"], width=0.7)
    step = max(1, -(-len(series) // 16))  # at most ~16 date labels, whatever the period's length
    ax.set_xticks(xs[::step], [fmt_short_date(p.day, language) for p in series][::step])
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_fontproperties(small)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([p.pieces for p in series] + [1]) * 1.1)
    ax.set_ylabel(t["chart_volume"], fontproperties=small)
    ax.spines[["top"]].set_visible(False)

    ax2 = ax.twinx()
    shares = [p.negative_share if p.negative_share is not None else float("nan") for p in series]
    ax2.plot(xs, shares, color="#d64545", marker="o", markersize=3, linewidth=1.5, label=t["chart_negative_share"])
    ax2.set_ylim(0, 1)
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 100:.0f}%"))
    for label in ax2.get_yticklabels():
        label.set_fontproperties(small)
    ax2.spines[["top"]].set_visible(False)

    # The legend sits above the plot, right of the title: outside the axes, it never covers a bar.
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [t["chart_volume"], t["chart_negative_share"]], prop=small, loc="lower right",
              bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False, borderaxespad=0.2)
    heading = font.copy()
    heading.set_size(10)
    ax.set_title(title or t["chart"], fontproperties=heading, loc="left")
    fig.tight_layout()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
