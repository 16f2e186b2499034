"""An operator-supplied MaxMind country database replaces the bundled one when GEOIP_MMDB_PATH is set."""

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from referrals import request_metadata


@pytest.fixture
def fresh_geo_caches():
    request_metadata._geo_reader.cache_clear()
    request_metadata.country_for_ip.cache_clear()
    yield
    request_metadata._geo_reader.cache_clear()
    request_metadata.country_for_ip.cache_clear()


def test_a_maxmind_file_answers_instead_of_the_bundled_database(tmp_path, settings, fresh_geo_caches):
    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-Country")
    # 8.8.8.0/24 is in the United States in every real database; this file says Iceland.
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "IS"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))

    assert request_metadata.country_for_ip("8.8.8.8") == "US"  # bundled geoip2fast

    settings.GEOIP_MMDB_PATH = str(path)
    request_metadata._geo_reader.cache_clear()
    request_metadata.country_for_ip.cache_clear()

    assert request_metadata.country_for_ip("8.8.8.8") == "IS"
    assert request_metadata.country_for_ip("1.1.1.1") == ""  # not in the file
    assert request_metadata.country_for_ip("10.0.0.1") == ""  # private addresses have no country
