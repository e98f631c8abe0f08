import pytest

from osu_env import rules


@pytest.mark.parametrize("od,expected", [(0, (80, 140, 200)), (5, (50, 100, 150)), (10, (20, 60, 100)), (9, (26, 68, 110)), (8.5, (29, 72, 115))])
def test_hit_windows_are_floored_dr_values(od, expected):
    assert rules.hit_windows(od) == expected


def test_circle_radius_follows_cs_with_stable_fudge():
    assert rules.circle_radius(4) == pytest.approx((54.4 - 4.48 * 4) * 1.00041)
    assert rules.circle_radius(0) > rules.circle_radius(10)


@pytest.mark.parametrize("ar,preempt", [(0, 1800), (5, 1200), (9, 600), (10, 450), (8, 750)])
def test_preempt_is_truncated_dr(ar, preempt):
    assert rules.preempt_ms(ar) == preempt


def test_hard_rock_and_easy_scale_difficulty():
    assert rules.apply_mods_to_difficulty(4, 9, 8, 5, rules.Mods.HardRock) == pytest.approx((5.2, 10, 10, 7))
    assert rules.apply_mods_to_difficulty(4, 9, 8, 5, rules.Mods.Easy) == (2, 4.5, 4, 2.5)


@pytest.mark.parametrize("ar,mods,preempt", [(8.4, 0, 690), (9.6, 0, 509), (9.4, 0, 540), (7, rules.Mods.HardRock, 479)])
def test_approach_time_comes_from_the_float32_approach_rate(ar, mods, preempt):
    """8.4 is 8.39999962 in float32 (690.00005 ms, not 689.99999...), 9.6 is 9.60000038."""
    assert rules.preempt_ms(rules.apply_mods_to_difficulty(4, ar, 5, 5, mods)[1]) == preempt


def test_accuracy_uses_stable_formula():
    assert rules.accuracy_percent(1, 1, 1, 1) == pytest.approx(100 * 450 / 1200)
    assert rules.accuracy_percent(10, 0, 0, 0) == 100.0


def test_spinner_requirement_and_thresholds():
    assert rules.spinner_requirement(3000, 5) == 15
    assert rules.spinner_thresholds(15, old_scoring=False) == (16, 14, 3)
    assert rules.spinner_thresholds(15, old_scoring=True) == (17, 16, 15)


def test_slider_result_from_fraction_of_parts():
    assert [rules.slider_result(h, 4) for h in (4, 3, 2, 1, 0)] == [300, 100, 100, 50, 0]
