"""Settings of the review loop and the console: a bad value is one clear error."""

import pytest
from pydantic import ValidationError

from msassistant.config import Settings


def test_clinic_time_zone_must_be_a_real_zone():
    assert Settings(clinic_timezone="Europe/London").clinic_timezone == "Europe/London"
    with pytest.raises(ValidationError, match="not a time zone name"):
        Settings(clinic_timezone="Mars/Olympus_Mons")


@pytest.mark.parametrize("value", [0.2, 1.5])
def test_reviewed_similarity_is_a_cosine_between_half_and_one(value):
    with pytest.raises(ValidationError):
        Settings(reviewed_similarity=value)
