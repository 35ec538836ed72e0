"""The catalogue of the built-in KPIs: what each figure of the built-in workflows is called.

:func:`gridflow.builtin.kpis.compute` returns one dict per KPI group; this module names those
groups and figures for people, in zh-CN and en, with the formula behind each — the words every
report (text table, CSV/XLSX, yearly page) shows. It also names the built-in workflows
(four_list, raise_hand) and the residents' satisfaction grades of raise_hand.

Contract:

* ``GROUPS[group]`` is ``(zh, en)``; the groups are those of ``compute()`` (``overdue``
  included, which has no entry in ``METRICS``: it is a league, not a list of figures).
* ``METRICS[group][key]`` is ``(kind, zh, en, formula)``, in the order reports list them;
  ``kind`` is ``count``, ``rate`` or ``days``; ``key`` may be dotted (``escalations_by.sla_timer``)
  for a figure nested one level down. A label may start with spaces: an indented sub-figure.
* ``RATES[key]`` names a rate's numerator and denominator keys in the same group, so reports
  can show "63.3% (107/169)"; :func:`rate_parts` reads them.

Data only, plus :func:`rate_parts`: it imports nothing of gridflow (the report ring imports it).
"""

from __future__ import annotations

from typing import Any

GROUPS: dict[str, tuple[str, str]] = {
    "four_list": ("四单工作法", "Four-list method"),
    "grid_asks": ("双向举手·网格出题", "Raise hand: grid asks"),
    "dept_asks": ("双向举手·部门出题", "Raise hand: department asks"),
    "overdue": ("当前超期", "Overdue now"),
}

METRICS: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "four_list": {
        "listed": ("count", "列入问题清单", "Listed", "cases created in the period"),
        "written_off": (
            "count",
            "销项",
            "Written off",
            "cases that reached written_off in the period",
        ),
        "in_progress": (
            "count",
            "期末在办",
            "In progress at period end",
            "created before the end, not closed by it",
        ),
        "rejected": ("count", "不予受理", "Rejected", "cases rejected in the period"),
        "merged": ("count", "合并", "Merged", "cases merged in the period"),
        "write_off_rate": (
            "rate",
            "销项率",
            "Write-off rate",
            "written_off_of_listed ÷ listed_kept",
        ),
        "written_off_of_listed": (
            "count",
            "本期列入且已销项",
            "Listed and written off",
            "listed in the period, written off by its end",
        ),
        "listed_kept": (
            "count",
            "本期列入（不含不予受理、合并）",
            "Listed, less rejected/merged",
            "listed − rejected/merged by the period end",
        ),
        "mean_days_to_write_off": (
            "days",
            "平均销项用时（工作日）",
            "Mean working days to write-off",
            "mean work_seconds ÷ 27000 of cases written off in the period",
        ),
        "p90_days_to_write_off": (
            "days",
            "90%销项用时（工作日）",
            "P90 working days to write-off",
            "percentile_cont(0.9) of the same",
        ),
        "rework_rate": (
            "rate",
            "返工率",
            "Rework rate",
            "rework steps ÷ (rework + pass_inspection steps)",
        ),
        "reworks": ("count", "返工", "Reworks", "rework steps in the period"),
        "inspections": (
            "count",
            "验收",
            "Inspections",
            "rework + pass_inspection steps in the period",
        ),
        "escalations": ("count", "上报", "Escalations", "sum of the four below"),
        "escalations_by.area_to_street": (
            "count",
            "  片区上报街道",
            "  area → street",
            "escalate steps",
        ),
        "escalations_by.street_to_district": (
            "count",
            "  街道上报区级",
            "  street → district",
            "escalate_district steps",
        ),
        "escalations_by.third_rework": (
            "count",
            "  第三次返工上报",
            "  third rework",
            "rework steps into escalated",
        ),
        "escalations_by.sla_timer": (
            "count",
            "  超时自动上报",
            "  SLA timer",
            "sla:escalate notes",
        ),
        "on_hold": (
            "count",
            "期末挂账",
            "On hold at period end",
            "open at the end in hold_requested/on_hold/review",
        ),
    },
    "grid_asks": {
        "raised": ("count", "举手（网格出题）", "Questions raised", "created in the period"),
        "answered": ("count", "已答复", "Answered", "questions with an answer step in the period"),
        "on_time_answer_rate": (
            "rate",
            "按时答复率",
            "On-time answer rate",
            "answers_on_time ÷ answer_deadlines",
        ),
        "answers_on_time": (
            "count",
            "按时答复",
            "Answered on time",
            "answer steps due in the period, late_s NULL",
        ),
        "answer_deadlines": (
            "count",
            "本期到期答复时限",
            "Answer deadlines due",
            "answer steps due in the period + unanswered past due",
        ),
        "answers_late": (
            "count",
            "逾期答复",
            "Answered late",
            "answer steps due in the period, late_s set",
        ),
        "unanswered_overdue": (
            "count",
            "到期未答复",
            "Unanswered past due",
            "open on the answer clock, due in the period, before now",
        ),
        "sign_on_time_rate": ("rate", "按时签收率", "Sign-in on time", "signs_on_time ÷ signs"),
        "signs_on_time": (
            "count",
            "1个工作日内签收",
            "Signed within 1 working day",
            "sign steps with elapsed_s ≤ 27000",
        ),
        "signs": ("count", "签收", "Signed", "sign steps in the period"),
        "return_rate": ("rate", "退回率", "Return rate", "returns ÷ dispatches"),
        "returns": ("count", "退回", "Returns", "return steps in the period"),
        "dispatches": (
            "count",
            "派单",
            "Dispatches",
            "dispatch + dispatch_direct + redispatch steps",
        ),
        "upheld_return_rate": (
            "rate",
            "退回成立率",
            "Upheld-return rate",
            "upheld_returns ÷ returns",
        ),
        "upheld_returns": (
            "count",
            "退回成立",
            "Returns upheld",
            "uphold_return steps in the period",
        ),
        "extension_rate": (
            "rate",
            "申请延期率",
            "Extension rate",
            "extension_requests ÷ dispatches",
        ),
        "extension_requests": (
            "count",
            "申请延期",
            "Extensions requested",
            "request_extension steps",
        ),
        "extensions_approved": (
            "count",
            "批准延期",
            "Extensions approved",
            "approve_extension steps",
        ),
        "extensions_rejected": (
            "count",
            "驳回延期",
            "Extensions rejected",
            "reject_extension steps",
        ),
        "satisfaction_rate": (
            "rate",
            "满意率",
            "Satisfaction",
            "(satisfied + basically_satisfied) ÷ confirmations",
        ),
        "unsatisfied_rate": ("rate", "不满意率", "Unsatisfied rate", "unsatisfied ÷ confirmations"),
        "confirmations": (
            "count",
            "有效评价",
            "Confirmations",
            "explicit confirm steps in the period",
        ),
        "satisfied": ("count", "满意", "Satisfied", "confirm steps, satisfaction = satisfied"),
        "basically_satisfied": (
            "count",
            "基本满意",
            "Basically satisfied",
            "confirm steps, satisfaction = basically_satisfied",
        ),
        "unsatisfied": (
            "count",
            "不满意",
            "Unsatisfied",
            "confirm steps, satisfaction = unsatisfied",
        ),
        "auto_confirmed": (
            "count",
            "逾期默认满意（不计入）",
            "Confirmed by default (not counted)",
            "auto_confirm steps",
        ),
    },
    "dept_asks": {
        "published": (
            "count",
            "部门出题",
            "Questions published",
            "published in the period, reaching the unit",
        ),
        "responded": (
            "count",
            "有网格举手",
            "With a hand raised",
            "of those, ≥ 1 hand from the unit by the period end",
        ),
        "response_rate": ("rate", "响应率", "Response rate", "responded ÷ published"),
        "completed": (
            "count",
            "已完成",
            "Completed",
            "of those published, completed by the period end",
        ),
        "completion_rate": ("rate", "完成率", "Completion rate", "completed ÷ published"),
        "hands": (
            "count",
            "举手次数",
            "Hands raised",
            "raise_hand steps by the unit's grids in the period",
        ),
        "participating_microgrids": (
            "count",
            "参与微网格",
            "Micro-grids taking part",
            "distinct micro-grids with a hand in the period",
        ),
        "microgrids": ("count", "微网格总数", "Micro-grids", "micro-grids in the subtree"),
        "participation_rate": (
            "rate",
            "微网格参与率",
            "Micro-grid participation",
            "participating_microgrids ÷ microgrids",
        ),
    },
}

RATES: dict[str, tuple[str, str]] = {
    "write_off_rate": ("written_off_of_listed", "listed_kept"),
    "rework_rate": ("reworks", "inspections"),
    "on_time_answer_rate": ("answers_on_time", "answer_deadlines"),
    "sign_on_time_rate": ("signs_on_time", "signs"),
    "return_rate": ("returns", "dispatches"),
    "upheld_return_rate": ("upheld_returns", "returns"),
    "extension_rate": ("extension_requests", "dispatches"),
    "satisfaction_rate": ("__satisfied_or_basically", "confirmations"),
    "unsatisfied_rate": ("unsatisfied", "confirmations"),
    "response_rate": ("responded", "published"),
    "completion_rate": ("completed", "published"),
    "participation_rate": ("participating_microgrids", "microgrids"),
}


def rate_parts(group: dict[str, Any], key: str) -> tuple[Any, Any]:
    """``(numerator, denominator)`` of the rate ``key`` in ``group`` (one group of ``compute()``'s
    dict), as counted; either may be ``None`` when the group lacks it. The numerator
    ``__satisfied_or_basically`` is ``satisfied + basically_satisfied``."""
    num_key, den_key = RATES[key]
    num = (
        (group.get("satisfied") or 0) + (group.get("basically_satisfied") or 0)
        if num_key == "__satisfied_or_basically"
        else group.get(num_key)
    )
    return num, group.get(den_key)


WORKFLOW_NAMES: dict[str, tuple[str, str]] = {
    "four_list": ("四单", "Four-list"),
    "raise_hand": ("举手", "Raise hand"),
}

# the residents' evaluation of an answered grid question (raise_hand's ``satisfaction``)
SATISFACTION: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "Satisfied"),
    "basically_satisfied": ("基本满意", "Basically satisfied"),
    "unsatisfied": ("不满意", "Unsatisfied"),
    "auto_confirmed": ("逾期默认满意", "Confirmed by default"),
}
