"""The data-centre list: the shipped file, and a refreshed list loaded into the table."""

import pytest
from django.core.management import CommandError, call_command

from conversions.fraud.datacenter import RangeSet, ranges_parse
from conversions.models import DatacenterRange
from tests.conversions.fraud.conftest import CHROME, HETZNER_DE, RESIDENTIAL_GB, signal_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_list(tmp_path):
    path = tmp_path / "ranges.txt"
    path.write_text("# a provider's published list\n81.2.69.0/24 Example Hosting\n2001:db8::/32 Example v6\n")
    return path


def test_a_refreshed_list_replaces_the_shipped_one(convert, new_list, capsys):
    call_command("refresh_datacenter_ranges", str(new_list))
    assert "Loaded 2 data-centre network(s)" in capsys.readouterr().out

    now_hosting = convert(ip=RESIDENTIAL_GB, user_agent=CHROME)
    evidence = signal_of(now_hosting, "datacenter_ip")["evidence"]
    assert evidence["provider"] == "Example Hosting" and evidence["ranges_source"] == "table"
    assert convert(ip=HETZNER_DE, user_agent=CHROME).status == "accepted"  # only in the shipped file


def test_a_list_can_come_from_a_url(new_list):
    call_command("refresh_datacenter_ranges", new_list.as_uri())
    assert set(DatacenterRange.objects.values_list("cidr", flat=True)) == {"81.2.69.0/24", "2001:db8::/32"}


def test_a_bad_line_loads_nothing_and_names_the_line(tmp_path, new_list):
    call_command("refresh_datacenter_ranges", str(new_list))
    bad = tmp_path / "bad.txt"
    bad.write_text("10.0.0.0/8 fine\n10.0.0.300/8 broken\n")

    with pytest.raises(CommandError, match=r"line 2: '10.0.0.300/8' is not an IP network"):
        call_command("refresh_datacenter_ranges", str(bad))

    assert DatacenterRange.objects.count() == 2


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="No such file"):
        call_command("refresh_datacenter_ranges", "/nonexistent/list.txt")


def test_the_shipped_list_parses_and_finds_nested_and_ipv6_ranges():
    from conversions.fraud.datacenter import SHIPPED_FILE

    ranges = RangeSet.build(ranges_parse(SHIPPED_FILE.read_text()), source="file")
    assert len(ranges) > 100
    assert ranges.lookup("2a01:4f8:1:2::3")[1] == "Hetzner"
    assert ranges.lookup("::ffff:5.9.10.10")[1] == "Hetzner"
    assert ranges.lookup(RESIDENTIAL_GB) is None and ranges.lookup("not an ip") is None
    nested = RangeSet.build([("10.0.0.0/8", "big"), ("10.1.0.0/16", "small"), ("10.200.0.0/16", "later")], source="t")
    assert nested.lookup("10.250.0.1") == ("10.0.0.0/8", "big")
