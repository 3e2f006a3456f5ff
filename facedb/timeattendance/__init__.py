"""Time and attendance: shifts, lateness, worked hours, corrections and payroll exports
(docs/TIME_AND_ATTENDANCE.md). The numbers are computed in SQL (the timesheet()
function); this package is the use cases and the export formats."""

from facedb.domain.constants import REASON_CODES
from facedb.store.corrections import CorrectionInfo, EventHistory, PeriodInfo
from facedb.store.org import DeviceInfo, GroupInfo, Membership, SiteInfo
from facedb.store.payroll_csv import PAYROLL_COLUMNS
from facedb.store.schedules import (
    AssignmentInfo,
    HolidayInfo,
    LeaveInfo,
    ShiftInfo,
    parse_weekdays,
)
from facedb.store.timesheet import PersonTotals, TimesheetDay
from facedb.timeattendance.export import (
    TOTALS_COLUMNS,
    payroll_json,
    write_totals_csv,
)
from facedb.timeattendance.service import TimeAttendance
from facedb.timezones import month_bounds
from facedb.usecases.payroll import write_payroll_csv

__all__ = [
    "PAYROLL_COLUMNS",
    "REASON_CODES",
    "TOTALS_COLUMNS",
    "AssignmentInfo",
    "CorrectionInfo",
    "DeviceInfo",
    "EventHistory",
    "GroupInfo",
    "HolidayInfo",
    "LeaveInfo",
    "Membership",
    "PeriodInfo",
    "PersonTotals",
    "ShiftInfo",
    "SiteInfo",
    "TimeAttendance",
    "TimesheetDay",
    "month_bounds",
    "parse_weekdays",
    "payroll_json",
    "write_payroll_csv",
    "write_totals_csv",
]
