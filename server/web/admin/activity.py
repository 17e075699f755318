"""The activity report for the municipal board: per event and per month, as a page (with a
server-rendered SVG chart and the same numbers as tables) and as CSV.

CSV: UTF-8 with a byte order mark and semicolons between fields, which is what Excel with
Swedish settings opens straight into columns (its list separator is the semicolon): the same
writer as the public-records export (services/export.csv_writer). The figures are whole
numbers, so the decimal comma never meets the separator.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, render_template, request
from flask_babel import format_date, format_decimal

from server.db import db, utcnow
from server.i18n import _, local_datetime, local_time
from server.services import activity
from server.services.activity import Figures, Report
from server.services.errors import ValidationError
from server.services.events import get_event
from server.services.export import UTF8_BOM, csv_cell, csv_writer
from server.web.admin import bp
from server.web.context import settings

# -- pages ------------------------------------------------------------------------------------

@bp.get("/events/<slug>/activity")
def event_activity(slug: str) -> str:
    event = get_event(db.session, slug, include_drafts=True)
    report = activity.event_report(db.session, event)
    title = _("Activity: %(event)s", event=event.title)
    return render_template("admin/activity_event.html", event=event, report=report, page_title=title,
                           chart=chart_of(report, title), table=series_table(report))


@bp.get("/activity")
def month_activity() -> tuple[str, int] | str:
    zone = settings().time.time_zone
    value = request.args.get("month")
    try:
        year, month = activity.parse_month(value, utcnow().astimezone(ZoneInfo(zone)).date())
    except ValidationError as error:
        # The form again, with the message beside the field and the text they typed.
        return render_template("admin/activity_month.html", report=None, month_value=value, error=str(error.message),
                               page_title=_("Activity per month")), 400
    report = activity.month_report(db.session, year, month, zone)
    name = month_name(year, month)
    title = _("Activity in %(month)s", month=name)
    return render_template("admin/activity_month.html", report=report, month_value=f"{year:04d}-{month:02d}",
                           month_name=name, error=None, page_title=title,
                           chart=chart_of(report, title), table=series_table(report))


# -- CSV --------------------------------------------------------------------------------------

@bp.get("/events/<slug>/activity.csv")
def event_activity_csv(slug: str) -> Response:
    event = get_event(db.session, slug, include_drafts=True)
    report = activity.event_report(db.session, event)
    first = [_("Talk"), _("Starts")]
    rows = [[row.title, local_datetime(row.talk.starts_at, event.time_zone, "yyyy-MM-dd HH:mm")]
            for row in report.rows]
    return _csv(f"activity-{event.slug}.csv", first, rows, report, [_("The whole event"), ""])


@bp.get("/activity.csv")
def month_activity_csv() -> Response:
    zone = settings().time.time_zone
    year, month = activity.parse_month(request.args.get("month"), utcnow().astimezone(ZoneInfo(zone)).date())
    report = activity.month_report(db.session, year, month, zone)
    first = [_("Event"), _("Date")]
    rows = [[row.title, row.event.starts_on.isoformat()] for row in report.rows]
    return _csv(f"activity-{year:04d}-{month:02d}.csv", first, rows, report, [_("The whole month"), ""])


def figure_names() -> list[str]:
    return [_("Peak viewers at once"), _("Participants"), _("Messages"), _("Questions"), _("Answered questions")]


def _figures(figures: Figures) -> list[int]:
    return [figures.peak_viewers, figures.participants, figures.messages, figures.questions, figures.answered]


def _csv(filename: str, first: list[str], rows: list[list[str]], report: Report, total: list[str]) -> Response:
    out = io.StringIO()
    out.write(UTF8_BOM)  # so Excel reads UTF-8 (å, ä, ö)
    writer = csv_writer(out)
    writer.writerow(first + figure_names())
    for cells, row in zip(rows, report.rows, strict=True):
        writer.writerow([csv_cell(cell) for cell in cells] + _figures(row.figures))
    writer.writerow(total + _figures(report.totals))
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


# -- the chart --------------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 64
MAX_X_LABELS = 8


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    title: str
    description: str
    x_title: str
    y_title: str
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_width: int = WIDTH - LEFT - RIGHT
    plot_height: int = HEIGHT - TOP - BOTTOM


def _nice_step(top: int) -> int:
    """1, 2 or 5 times a power of ten, so that at most five steps reach `top`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if top <= step * 5:
                return step
        magnitude *= 10


def point_label(report: Report, moment: datetime, *, long: bool = False) -> str:
    """A bar's time in the report's zone: the day for a month (with the month when `long`),
    the time for one day, the date and time when the series spans several days."""
    zone = ZoneInfo(report.time_zone)
    if report.step >= timedelta(days=1):
        return format_date(moment.astimezone(zone).date(), "d MMMM" if long else "d")
    if report.starts_at and report.ends_at and (
            report.starts_at.astimezone(zone).date() != (report.ends_at - activity.MINUTE).astimezone(zone).date()):
        return local_datetime(moment, report.time_zone, "short")
    return local_time(moment, report.time_zone)


def chart_of(report: Report, title: str) -> Chart | None:
    """Bars of the peak viewers per step; None when nobody was counted."""
    if not report.series or report.totals.peak_viewers == 0:
        return None
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = _nice_step(max(point.viewers for point in report.series))
    top = step * -(-max(point.viewers for point in report.series) // step)
    slot = plot_width / len(report.series)
    gap = 1 if slot > 3 else 0
    bars = []
    for index, point in enumerate(report.series):
        height = point.viewers / top * plot_height
        bars.append(Bar(round(LEFT + index * slot + gap / 2, 2), round(TOP + plot_height - height, 2),
                        round(max(slot - gap, 0.5), 2), round(height, 2)))
    y_ticks = [Tick(round(TOP + plot_height - value / top * plot_height, 2), format_decimal(value))
               for value in range(0, top + 1, step)]
    every = -(-len(report.series) // MAX_X_LABELS)
    x_ticks = [Tick(round(LEFT + (index + 0.5) * slot, 2), point_label(report, point.starts_at))
               for index, point in enumerate(report.series) if index % every == 0]
    peak = max(report.series, key=lambda point: point.viewers)
    if report.step >= timedelta(days=1):
        x_title = _("Day (%(zone)s)", zone=report.time_zone)
    elif report.step == activity.MINUTE:
        x_title = _("Time (%(zone)s), one bar per minute", zone=report.time_zone)
    else:
        x_title = _("Time (%(zone)s), one bar per %(minutes)d minutes", zone=report.time_zone,
                    minutes=int(report.step.total_seconds() // 60))
    description = _("At most %(viewers)s viewers at once, at %(when)s. The same numbers are in the table "
                    "below the chart.", viewers=format_decimal(peak.viewers),
                    when=point_label(report, peak.starts_at, long=True))
    return Chart(title, description, x_title, _("Viewers at once"), bars, y_ticks, x_ticks)


def series_table(report: Report) -> list[tuple[str, str]]:
    """The chart's numbers as text (WCAG 1.1.1): one row per bar."""
    return [(point_label(report, point.starts_at, long=True), format_decimal(point.viewers))
            for point in report.series]


def month_name(year: int, month: int) -> str:
    return format_date(date(year, month, 1), "LLLL y")
