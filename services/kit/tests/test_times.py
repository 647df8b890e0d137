from datetime import UTC, datetime, timedelta, timezone

from crontopus_kit.times import as_utc


def test_a_time_without_an_offset_is_utc_and_one_with_an_offset_is_the_same_instant_in_utc():
    assert as_utc(datetime(2026, 12, 6, 2, 0)) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    berlin = datetime(2026, 12, 6, 3, 0, tzinfo=timezone(timedelta(hours=1)))
    converted = as_utc(berlin)
    assert converted == berlin and converted.utcoffset() == timedelta(0) and converted.hour == 2
    assert as_utc(None) is None
