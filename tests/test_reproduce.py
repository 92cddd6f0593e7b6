import pytest

from sbp.infra.reproduce import NOTEBOOK_DIR, ORDER, inputs_digest, select


def test_select_by_prefix_and_unknown():
    assert select(ORDER, ["00"]) == [ORDER[0]]
    assert select(ORDER, None) == ORDER
    with pytest.raises(SystemExit, match="unknown"):
        select(ORDER, ["99"])


def test_digest_depends_on_profile_and_notebook():
    a = inputs_digest(NOTEBOOK_DIR / ORDER[0], "quick")
    assert a == inputs_digest(NOTEBOOK_DIR / ORDER[0], "quick")
    assert a != inputs_digest(NOTEBOOK_DIR / ORDER[0], "paper")
    assert a != inputs_digest(NOTEBOOK_DIR / ORDER[1], "quick")
