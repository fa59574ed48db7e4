"""The comparison of emulated and real cells (pure: no lab needed)."""

from __future__ import annotations

from .compare import Difference, compare, masked


def outcome(output: str, ok: bool = True, exit_code: int = 0, duration_s: float = 1.0) -> dict:
    return {
        "variant": "v",
        "node": "n",
        "step": "s",
        "argv": ["taos", "-s", "show dnodes"],
        "output": output,
        "ok": ok,
        "exit_code": exit_code,
        "duration_s": duration_s,
    }


def test_masking_keeps_what_the_user_reads():
    row = "      3 | taosnode3:8030                 |      1 |      2 | ready      | any   | 2026-12-02 08:22:24.008 |"
    assert masked(row) == (
        "      3 | taosnode3:8030                 |      V |      C | ready      | any   | YYYY-MM-DD hh:mm:ss.mmm |"
    )
    assert masked("DB error: Unable to establish connection (0.013475s)") == (
        "DB error: Unable to establish connection (T s)"
    )


def test_equal_cells_have_no_difference_and_a_slow_retry_is_one():
    text = "taos connect failed, reason: Unable to establish connection.\n"
    assert compare([outcome(text, False, 1, 5.0)], [outcome(text, False, 1, 4.5)]) == []
    (slow,) = compare([outcome(text, False, 1, 0.1)], [outcome(text, False, 1, 4.5)])
    assert isinstance(slow, Difference) and slow.what == "a retried failure took another time"


def test_a_different_text_is_shown_side_by_side():
    (difference,) = compare([outcome("ready\n")], [outcome("offline\n")])
    assert "ready" in difference.detail and "offline" in difference.detail and "|" in difference.detail


def test_masking_hides_uids_and_the_monitor_databases_table_count():
    row = " t1                             | 2026-12-02 14:12:22.230 |       3 |                                |       844424946915942 |           1 |           3 |"
    assert "UID" in masked(row) and "844424946915942" not in masked(row)
    log = " log                            | 2026-12-02 14:12:04.599 |           6 |           1 |       1 |"
    assert (
        masked(log)
        == " log                            | YYYY-MM-DD hh:mm:ss.mmm |           N |           1 |       1 |"
    )
    user = " db2                            | 2026-12-02 14:13:07.722 |           1 |           1 |       1 |"
    assert (
        masked(user)
        == " db2                            | YYYY-MM-DD hh:mm:ss.mmm |           1 |           1 |       1 |"
    )


def test_masking_hides_where_a_vgroup_was_placed():
    row = "           3 |           2 | ready    |           1 |        2 | master    |"
    assert masked(row) == "           3 |           2 | ready    |           1 |        D | master    |"
